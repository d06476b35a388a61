#!/usr/bin/env node
// The published entry point is built to dist/; this file exists in the repository too, so a fresh
// `pnpm install` links the bin without warnings. In the workspace, run `pnpm cli …` (the sources).
import "../dist/bin.js"
