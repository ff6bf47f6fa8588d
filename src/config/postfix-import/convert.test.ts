import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, it } from "node:test";

import { parseConfig } from "../load.ts";
import { convertPostfix, type ImportResult } from "./convert.ts";
import { renderImportedConfig } from "./emit.ts";
import { importPostfixDir } from "./index.ts";

const fixtures = resolve(import.meta.dirname, "../../../test/fixtures/postfix");

/** Converts in-memory files; map names are looked up in `maps` by their path. */
function convert(mainCf: string, masterCf: string, maps: Record<string, string> = {}): ImportResult {
  return convertPostfix({
    mainCf,
    masterCf,
    readMap: (name) => (Object.hasOwn(maps, name) ? { text: maps[name]!, file: name } : null),
  });
}

function messages(result: ImportResult, code: string): string[] {
  return result.warnings.filter((w) => w.code === code).map((w) => w.message);
}

describe("importPostfixDir on the seed configuration (Methods 1 and 2)", () => {
  const imported = importPostfixDir(fixtures);
  assert.ok(imported.ok);

  it("writes exactly the golden mailfleet.yaml", () => {
    assert.equal(imported.yaml, readFileSync(join(fixtures, "expected.yaml"), "utf8"));
  });

  it("produces a config the real loader accepts, transport_maps routes before sender routes", () => {
    const parsed = parseConfig(imported.yaml, "expected.yaml", fixtures);
    assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.errors));
    const { config } = parsed;
    assert.deepEqual(
      config.routes.map((r) => r.transport),
      ["gmail-transport", "yahoo-transport", "ms-transport", "transactional-smtp", "marketing-smtp"],
    );
    assert.equal(config.transports["yahoo-transport"]?.bindAddress, "127.0.0.3");
    assert.equal(config.transports["yahoo-transport"]?.limits.rateDelayMs, 400);
    assert.equal(config.transports["marketing-smtp"]?.maxQueueLifetimeMs, 6 * 3600_000);
    assert.equal(config.transports["transactional-smtp"]?.concurrency, 15);
    assert.deepEqual(Object.keys(config.sources), ["ip-127-0-0-2", "ip-127-0-0-3", "ip-127-0-0-4"]);
    assert.equal(config.delivery.defaultTransport, "smtp");
  });

  it("warns about every setting Postfix ignored, and about the shadowed sender routes", () => {
    const lifetime = messages(imported, "BEHAVIOUR_CHANGE").filter((m) =>
      m.includes("maximal_queue_lifetime"),
    );
    assert.equal(lifetime.length, 2);
    assert.match(lifetime[0]!, /"transactional-smtp".*maximal_queue_lifetime=1d.*5d applied.*CHANGE/);
    assert.match(lifetime[1]!, /"marketing-smtp".*maximal_queue_lifetime=6h.*CHANGE/);
    assert.equal(messages(imported, "BEHAVIOUR_CHANGE").length, 10);
    const shadowed = messages(imported, "ROUTE_SHADOWED");
    assert.equal(shadowed.length, 2);
    assert.match(shadowed[1]!, /newsletter@yourapp\.com, campaigns@yourapp\.com via marketing-smtp/);
    assert.match(shadowed[1]!, /gmail\.com, googlemail\.com -> gmail-transport \(from 127\.0\.0\.2\)/);
    assert.match(
      shadowed[1]!,
      /move the route "sender_dependent_default_transport_maps: marketing-smtp" above/,
    );
    assert.deepEqual(messages(imported, "NOT_CARRIED"), [
      "main.cf:23: bounce_queue_lifetime = 5d is not carried over",
    ]);
    for (const w of imported.warnings)
      assert.ok(imported.yaml.includes(`# WARNING: ${w.code}: ${w.message}\n`));
  });

  it("refuses a directory without main.cf", () => {
    const missing = importPostfixDir(join(fixtures, "no-such-dir"));
    assert.equal(missing.ok, false);
    assert.equal(!missing.ok && missing.code, "POSTFIX_MAIN_CF_MISSING");
  });
});

describe("convertPostfix", () => {
  const smtp = "smtp unix - - n - - smtp\n";

  it("keeps a nexthop per map entry: empty = MX, [host]:port fixed, one transport per service x nexthop", () => {
    const result = convert(
      "transport_maps = hash:/t\nrelayhost = [smarthost.example]:587\n",
      `${smtp}out unix - - n - - smtp -o smtp_bind_address=127.0.0.5\n`,
      {
        "/t": "a.example out\nb.example out:[127.0.0.9]:2525\nc.example out:\nd.example smtp:mx.d.example:submission\n",
      },
    );
    const transports = result.config.transports as Record<string, { nexthop: string }>;
    assert.equal(transports.smtp?.nexthop, "[smarthost.example]:587");
    assert.equal(transports.out?.nexthop, "mx");
    assert.equal(transports["out-2"]?.nexthop, "[127.0.0.9]:2525");
    assert.equal(transports["smtp-2"]?.nexthop, "mx.d.example:587");
    assert.deepEqual(result.config.routes, [
      {
        name: "transport_maps: out",
        match: { recipient_domain: ["a.example", "c.example"] },
        transport: "out",
      },
      { name: "transport_maps: out-2", match: { recipient_domain: ["b.example"] }, transport: "out-2" },
      { name: "transport_maps: smtp-2", match: { recipient_domain: ["d.example"] }, transport: "smtp-2" },
    ]);
  });

  it("gives a sender-map entry without nexthop the relayhost, as Postfix does", () => {
    const result = convert(
      "sender_dependent_default_transport_maps = hash:/s\nrelayhost = [relay.example]\n",
      `${smtp}bulk unix - - n - - smtp\n`,
      { "/s": "@news.example bulk\n<> bulk\n" },
    );
    const transports = result.config.transports as Record<string, { nexthop: string }>;
    assert.equal(transports.bulk?.nexthop, "[relay.example]");
    assert.deepEqual(result.config.routes, [
      {
        name: "sender_dependent_default_transport_maps: bulk #1",
        match: { sender: ["<>"] },
        transport: "bulk",
      },
      {
        name: "sender_dependent_default_transport_maps: bulk #2",
        match: { sender_domain: ["news.example"] },
        transport: "bulk",
      },
    ]);
  });

  it("orders parent-domain entries closest first, like Postfix's lookup", () => {
    const result = convert(
      "transport_maps = hash:/t\n",
      `${smtp}far unix - - n - - smtp\nnear unix - - n - - smtp\n`,
      {
        "/t": ".example.org far\n.a.example.org near\nexample.org far\n",
      },
    );
    const routes = result.config.routes as { match: { recipient_domain: string[] }; transport: string }[];
    assert.deepEqual(
      routes.map((r) => [r.transport, r.match.recipient_domain]),
      [
        ["far", ["example.org"]],
        ["near", [".a.example.org"]],
        ["far", [".example.org"]],
      ],
    );
  });

  it('turns a "*" transport_maps entry into the default transport and drops the sender routes it shadows', () => {
    const result = convert(
      "transport_maps = hash:/t\nsender_dependent_default_transport_maps = hash:/s\n",
      `${smtp}all unix - - n - - smtp\nbulk unix - - n - - smtp\n`,
      { "/t": "* all\n", "/s": "@news.example bulk\n" },
    );
    assert.deepEqual(result.config.delivery, { default_transport: "all" });
    assert.equal(result.config.routes, undefined);
    assert.match(
      messages(result, "ROUTE_SHADOWED")[0]!,
      /"\*" entry .* never used sender_dependent_default_transport_maps/,
    );
  });

  it("does not warn when a -o queue setting matches what Postfix applied from main.cf", () => {
    const result = convert(
      "transport_maps = hash:/t\nout_destination_concurrency_limit = 7\n",
      `${smtp}out unix - - n - - smtp -o smtp_destination_concurrency_limit=7 -o syslog_name=postfix/out\n`,
      { "/t": "a.example out\n" },
    );
    assert.deepEqual(result.warnings, []);
    const transports = result.config.transports as Record<string, { concurrency: number }>;
    assert.equal(transports.out?.concurrency, 7);
  });

  it("maps TLS levels and warns about what cannot be carried over", () => {
    const result = convert(
      "transport_maps = hash:/t\nsmtp_tls_security_level = encrypt\n",
      [
        smtp,
        "strict unix - - n - - smtp -o smtp_tls_security_level=verify -o smtp_connect_timeout=5s",
        "plain unix - - n - - smtp -o smtp_tls_security_level=none",
        "local-lmtp unix - - n - - lmtp",
        "unused unix - - n - - smtp",
      ].join("\n"),
      { "/t": "a.example strict\nb.example plain\nc.example local-lmtp\nuser@d.example plain\n" },
    );
    const transports = result.config.transports as Record<string, { tls: string }>;
    assert.equal(transports.smtp?.tls, "required");
    assert.equal(transports.strict?.tls, "required");
    assert.equal(transports.plain?.tls, "none");
    const notCarried = messages(result, "NOT_CARRIED").join("\n");
    assert.match(
      notCarried,
      /smtp_tls_security_level=verify becomes tls: required; its server certificate verification/,
    );
    assert.match(notCarried, /-o smtp_connect_timeout=5s has no mailfleet equivalent/);
    assert.match(notCarried, /transport_maps \/t:3: lmtp nexthop "" cannot be expressed in mailfleet/);
    assert.match(notCarried, /key "user@d\.example" is not carried over/);
    assert.match(notCarried, /"unused" .* not imported/);
    const routes = result.config.routes as { transport: string }[];
    assert.deepEqual(
      routes.map((r) => r.transport),
      ["strict", "plain"],
    );
  });

  it("turns lmtp services into LMTP transports, with lmtp_* settings and the socket under queue_directory", () => {
    const result = convert(
      "transport_maps = hash:/t\nqueue_directory = /var/spool/postfix\nsmtp_bind_address = 192.0.2.9\n",
      [
        smtp,
        "lmtp unix - - n - - lmtp",
        "store unix - - n - - lmtp -o lmtp_lhlo_name=edge.example -o lmtp_tls_security_level=none",
      ].join("\n"),
      {
        "/t": [
          "mailbox.example lmtp:unix:private/dovecot-lmtp",
          "archive.example store:[10.0.0.5]",
          "abs.example lmtp:unix:/run/dovecot/lmtp",
          "bad.example lmtp:unix:",
        ].join("\n"),
      },
    );
    const transports = result.config.transports as Record<string, Record<string, unknown>>;
    assert.equal(transports.lmtp?.nexthop, "lmtp:unix:/var/spool/postfix/private/dovecot-lmtp");
    assert.equal(transports["lmtp-2"]?.nexthop, "lmtp:unix:/run/dovecot/lmtp");
    assert.equal(transports.store?.nexthop, "lmtp:[10.0.0.5]:24");
    assert.equal(transports.store?.helo, "edge.example");
    assert.equal(transports.store?.tls, "none");
    // smtp_bind_address is smtp(8)'s: the LMTP transports bind nothing.
    assert.equal(transports.lmtp?.bind_address, undefined);
    assert.match(messages(result, "NOT_CARRIED").join("\n"), /lmtp nexthop "unix:" cannot be expressed/);
    const parsed = parseConfig(
      renderImportedConfig(result.config, result.warnings),
      "imported.yaml",
      fixtures,
    );
    assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.errors));
    assert.deepEqual(parsed.config.transports.store?.nexthop, {
      kind: "lmtp",
      host: "10.0.0.5",
      port: 24,
      socketPath: null,
    });
  });

  it("expands $variables in -o values and derives listeners and trusted networks", () => {
    const result = convert(
      "myhostname = mx.example.com\nsmtp_helo_name = out.$mydomain\nmydomain = example.com\ninet_interfaces = 127.0.0.1, [::1]\nmynetworks = 10.0.0.0/8 hash:/etc/postfix/network_table\ntransport_maps = hash:/t\n",
      `smtp inet n - y - - smtpd\n2525 inet n - y - - smtpd -o smtpd_tls_wrappermode=yes\n${smtp}named unix - - n - - smtp -o smtp_helo_name=$service_name.$mydomain\n`,
      { "/t": "a.example named\n" },
    );
    assert.deepEqual(result.config.listen, ["127.0.0.1:25", "[::1]:25", "127.0.0.1:2525", "[::1]:2525"]);
    assert.deepEqual(result.config.relay, { trusted_networks: ["10.0.0.0/8"] });
    const transports = result.config.transports as Record<string, { helo?: string }>;
    assert.equal(transports.named?.helo, "named.example.com");
    assert.equal(transports.smtp?.helo, "out.example.com");
    const notCarried = messages(result, "NOT_CARRIED").join("\n");
    assert.match(notCarried, /mynetworks entry "hash:\/etc\/postfix\/network_table"/);
    assert.match(notCarried, /-o smtpd_tls_wrappermode=yes \(SMTP server setting\)/);
  });
});
