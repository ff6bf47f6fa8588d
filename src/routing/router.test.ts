import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { formatConfigError } from "../config/errors.ts";
import { parseConfig } from "../config/load.ts";
import type { Config } from "../config/types.ts";
import { domainMatches, mxMatches, recipientDomain, routeRecipient, routesNeedMx } from "./router.ts";

/** A real config from YAML: every rule goes through the schema, as in production. */
function configFrom(yaml: string): Config {
  const result = parseConfig(yaml, "routes.yaml", "/tmp", { defaultHostname: "mta.example" });
  if (!result.ok) assert.fail(result.errors.map(formatConfigError).join("\n"));
  return result.config;
}

const config = configFrom(`
transports:
  gmail: {}
  marketing: {}
  yahoo: {}
  bounces: {}
  corp: {}
routes:
  - name: marketing-to-gmail
    match: { sender_domain: [news.example.com, .lists.example.com], mx: "*.google.com" }
    transport: gmail
  - name: marketing
    match: { sender_domain: news.example.com }
    transport: marketing
  - match: { recipient_domain: [yahoo.com, .yahoo.co.uk], sender: NoReply@App.example }
    transport: yahoo
  - match: { sender: "<>" }
    transport: bounces
  - match: { mx: mx.corp.example }
    transport: corp
`);

/** The transport name a recipient takes, or the failure reason. */
function route(sender: string, recipient: string, mxHosts: string[] | null = null): string {
  const result = routeRecipient(config, { sender, recipient, mxHosts });
  return result.ok ? result.route.transport.name : `error: ${result.reason}`;
}

describe("routeRecipient", () => {
  test("marketing senders to Google-hosted domains: sender_domain and mx in one rule", () => {
    const google = ["alt1.aspmx.l.google.com", "aspmx.l.google.com"];
    assert.equal(route("promo@news.example.com", "a@customer.example", google), "gmail");
    assert.equal(route("promo@weekly.lists.example.com", "a@customer.example", google), "gmail");
    // The same sender to a non-Google domain falls to the next rule (first match wins).
    assert.equal(route("promo@news.example.com", "a@other.example", ["mx.other.example"]), "marketing");
    // Another sender to Gmail takes the default transport: both conditions must hold.
    assert.equal(route("alice@example.com", "a@customer.example", google), "mx");
  });

  test("an mx condition never matches when the MX hosts are unknown", () => {
    assert.equal(route("promo@news.example.com", "a@customer.example", null), "marketing");
    assert.equal(route("x@example.com", "a@corp.example", null), "mx");
    assert.equal(routeRecipient(config, { sender: "x@example.com", recipient: "a@corp.example" }).ok, true);
  });

  test("mx hosts are compared case-insensitively and without a trailing dot", () => {
    assert.equal(route("x@example.com", "a@corp.example", ["MX.Corp.Example."]), "corp");
    assert.equal(route("x@example.com", "a@corp.example", ["mx2.corp.example"]), "mx");
  });

  test("recipient_domain: exact, or .suffix for subdomains only; sender compared case-insensitively", () => {
    assert.equal(route("noreply@app.example", "a@Yahoo.COM"), "yahoo");
    assert.equal(route("NOREPLY@APP.EXAMPLE", "a@mail.yahoo.co.uk"), "yahoo");
    assert.equal(route("noreply@app.example", "a@x.y.yahoo.co.uk"), "yahoo");
    assert.equal(route("noreply@app.example", "a@yahoo.co.uk"), "mx");
    assert.equal(route("noreply@app.example", "a@notyahoo.com"), "mx");
    assert.equal(route("other@app.example", "a@yahoo.com"), "mx");
  });

  test("the null sender matches only a <> sender entry, never a sender_domain", () => {
    assert.equal(route("", "a@customer.example", ["aspmx.l.google.com"]), "bounces");
    assert.equal(route("<>", "a@yahoo.com"), "bounces");
  });

  test("the decision carries the matched rule, or null for the default transport", () => {
    const hit = routeRecipient(config, {
      sender: "n@news.example.com",
      recipient: "b@B.Example",
      mxHosts: null,
    });
    assert.ok(hit.ok);
    assert.equal(hit.route.domain, "b.example");
    assert.equal(hit.route.rule?.index, 2);
    assert.equal(hit.route.rule?.name, "marketing");
    const miss = routeRecipient(config, { sender: "a@b.example", recipient: "c@d.example", mxHosts: null });
    assert.ok(miss.ok);
    assert.equal(miss.route.rule, null);
    assert.equal(miss.route.transport, config.transports.mx);
  });

  test("a recipient without a domain is a routing failure, not an exception", () => {
    assert.match(route("", "postmaster"), /^error: recipient <postmaster> has no domain/);
  });

  test("a rule naming a missing transport (hand-built config) is a failure, not an exception", () => {
    const broken: Config = { ...config, transports: { mx: config.transports.mx! } };
    const result = routeRecipient(broken, { sender: "n@news.example.com", recipient: "a@b.example" });
    assert.deepEqual(result, { ok: false, reason: 'transport "marketing" is not defined' });
  });
});

describe("matching helpers", () => {
  test("recipient domain is the part after the last @, lower-cased", () => {
    assert.equal(recipientDomain("a@Example.COM"), "example.com");
    assert.equal(recipientDomain('"x@y"@b.example'), "b.example");
    assert.equal(recipientDomain("nodomain"), null);
    assert.equal(recipientDomain("trailing@"), null);
  });

  test("domain patterns", () => {
    assert.equal(domainMatches(".example.com", "a.example.com"), true);
    assert.equal(domainMatches(".example.com", "x.y.example.com"), true);
    assert.equal(domainMatches(".example.com", "example.com"), false);
    assert.equal(domainMatches(".example.com", "badexample.com"), false);
    assert.equal(domainMatches("example.com", "example.com"), true);
    assert.equal(domainMatches("example.com", "a.example.com"), false);
  });

  test("mx patterns", () => {
    assert.equal(mxMatches("*.google.com", "aspmx.l.google.com"), true);
    assert.equal(mxMatches("*.google.com", "google.com"), false);
    assert.equal(mxMatches("*.google.com", "evilgoogle.com"), false);
    assert.equal(mxMatches("mx.example.com", "mx.example.com"), true);
    assert.equal(mxMatches("mx.example.com", "a.mx.example.com"), false);
  });

  test("routesNeedMx is true only when some rule has an mx condition", () => {
    assert.equal(routesNeedMx(config), true);
    assert.equal(
      routesNeedMx(configFrom("routes: [{ match: { sender: a@b.example }, transport: mx }]")),
      false,
    );
    assert.equal(routesNeedMx(configFrom("")), false);
  });
});

describe("tenant routes", () => {
  const tenants = configFrom(`
transports:
  acme: {}
  acme-news: {}
routes:
  - match: { tenant: acme, sender_domain: news.example.com }
    transport: acme-news
  - match: { tenant: [Acme, beta] }
    transport: acme
`);
  const via = (tenant: string | null, sender = "a@example.com") => {
    const result = routeRecipient(tenants, { sender, recipient: "x@dest.example", tenant });
    return result.ok ? result.route.transport.name : result.reason;
  };

  test("a tenant condition matches the message's tenant, combined with the others", () => {
    assert.equal(tenants.routes[1]?.match.tenant?.join(","), "acme,beta");
    assert.equal(via("acme"), "acme");
    assert.equal(via("ACME"), "acme");
    assert.equal(via("beta"), "acme");
    assert.equal(via("acme", "n@news.example.com"), "acme-news");
    assert.equal(via("gamma"), "mx");
    // Mail without a tenant never matches a tenant condition.
    assert.equal(via(null), "mx");
  });
});
