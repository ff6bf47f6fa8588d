import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { loadMaps, parseMapList, parseMapText } from "./maps.ts";

describe("parseMapList", () => {
  it("splits a table list and unwraps proxy:", () => {
    assert.deepEqual(
      parseMapList("hash:/etc/postfix/transport, proxy:lmdb:/etc/postfix/t2 regexp:/etc/postfix/t.re"),
      [
        { type: "hash", name: "/etc/postfix/transport", text: "hash:/etc/postfix/transport" },
        { type: "lmdb", name: "/etc/postfix/t2", text: "proxy:lmdb:/etc/postfix/t2" },
        { type: "regexp", name: "/etc/postfix/t.re", text: "regexp:/etc/postfix/t.re" },
      ],
    );
  });
});

describe("parseMapText", () => {
  it("reads key value lines, folds keys to lower case, keeps the first duplicate", () => {
    const text =
      "# comment\nGmail.COM  gmail-transport\nexample.com smtp:\n  [relay.example]:587\ngmail.com other\nbad\n";
    const { entries, problems } = parseMapText(text, "transport");
    assert.deepEqual(entries, [
      { key: "gmail.com", value: "gmail-transport", at: "transport:2" },
      { key: "example.com", value: "smtp: [relay.example]:587", at: "transport:3" },
    ]);
    assert.equal(problems.length, 2);
    assert.match(problems[0]!, /transport:5: duplicate entry "gmail.com"/);
    assert.match(problems[1]!, /transport:6: expected "key value"/);
  });
});

describe("loadMaps", () => {
  it("reads the text source of indexed tables, an earlier table winning, and reports the rest", () => {
    const files: Record<string, string> = {
      "/etc/postfix/a": "x.com t1\n",
      "/etc/postfix/b": "x.com t2\ny.com t2\n",
    };
    const read = (name: string) => (name in files ? { text: files[name]!, file: name } : null);
    const loaded = loadMaps(
      "transport_maps",
      "hash:/etc/postfix/a texthash:/etc/postfix/b pcre:/p hash:/missing",
      read,
    );
    assert.deepEqual(
      loaded.entries.map((e) => [e.key, e.value]),
      [
        ["x.com", "t1"],
        ["y.com", "t2"],
      ],
    );
    assert.equal(loaded.problems.length, 2);
    assert.match(loaded.problems[0]!, /"pcre:\/p" is not carried over/);
    assert.match(loaded.problems[1]!, /cannot read the source file of "hash:\/missing"/);
  });
});
