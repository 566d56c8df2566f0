"""Helpers the tests share: real servers, peers, builders. Test files import from here, never from each other."""
