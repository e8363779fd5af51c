#!/usr/bin/env node
// The CLI loaded module by module from dist/src (the launcher before
// dist/bundle), for bench/cli-startup.mjs to compare against.
import { main } from '../dist/src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
