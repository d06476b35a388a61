#!/usr/bin/env node
/**
 * The `bedrock-certify` executable.
 *
 * @since 0.1.0
 */
import { main } from "./Cli.ts"

main()
