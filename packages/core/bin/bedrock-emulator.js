#!/usr/bin/env node
// The published entry point is built to dist/; this file exists in the repository too, so a fresh
// `pnpm install` links the bin without warnings. In the workspace, run `pnpm emulator …` (the sources).
import "../dist/emulator-cli.js"
