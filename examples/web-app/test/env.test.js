// `npm test` runs `devsecrets run -- node --test test/`: the secrets are there, and they
// look like sandbox credentials.
const test = require("node:test");
const assert = require("node:assert");

test("the secrets reach the test run", () => {
  for (const name of ["STRIPE_API_KEY", "DATABASE_URL", "SESSION_SECRET"]) {
    assert.ok(process.env[name], `${name} is missing: run the tests with npm test`);
  }
});

test("Stripe runs in test mode", () => {
  assert.match(process.env.STRIPE_API_KEY, /^sk_test_/);
});
