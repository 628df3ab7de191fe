#!/usr/bin/env node
/**
 * syslog-ledger's entry point: the command line (cli/index.ts), which loads each command's module when
 * it runs. The server (server.ts) is loaded only by `serve`, and the stages (stages.ts) by `serve` and `parse`: the other
 * commands start without the server's modules (~0.25 s less per run of verify, prove, ...).
 */
import { runCli } from './cli/index.js';

process.exitCode = await runCli(process.argv.slice(2));
