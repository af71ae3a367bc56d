// A tiny server that needs three secrets. Start it with `npm start` or `make dev`, which
// run `devsecrets run -- node server.js`: the values are in this process's environment
// only, and masked if it ever prints them.
const http = require("node:http");

const needed = ["STRIPE_API_KEY", "DATABASE_URL", "SESSION_SECRET"];
const missing = needed.filter((name) => !process.env[name]);
if (missing.length > 0) {
  console.error(`missing ${missing.join(", ")}: start me with \`devsecrets run -- node server.js\``);
  process.exit(1);
}

const port = Number(process.env.PORT || 3000);
http
  .createServer((request, response) => response.end("ok\n"))
  .listen(port, () => console.log(`listening on http://localhost:${port}`));
