#!/usr/bin/env node
// Entry point for the `mailfleet` command. Node 24 runs the TypeScript sources directly
// (type stripping), so there is no build step between a checkout and a running MTA.
import "../src/cli/main.ts";
