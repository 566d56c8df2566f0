// Parses TraceQL queries with Grafana's grammar (@grafana/lezer-traceql) in strict mode, where any
// syntax error throws instead of being recovered from. Usage: node traceql_parse.cjs NODE_MODULES_DIR
// with a JSON array of queries on stdin; prints a JSON array of null (parsed) or the error message.
const path = require("path");
const { parser } = require(path.join(process.argv[2], "@grafana/lezer-traceql"));
const strict = parser.configure({ strict: true });
let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const results = JSON.parse(input).map((query) => {
    try {
      strict.parse(query);
      return null;
    } catch (error) {
      return String(error.message);
    }
  });
  process.stdout.write(JSON.stringify(results));
});
