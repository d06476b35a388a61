/**
 * The real services the PostgreSQL + Redis host tests need: whether they answer, failing (not
 * skipping) when `CI` is set and one is down, and a per-run schema name to drop afterwards.
 */
import * as Net from "node:net"
import postgres from "postgres"
import { fromEnv, type HostConfig } from "../src/config.ts"

/** Whether something accepts TCP connections on `host:port`. */
export const reachable = (port: number, host = "127.0.0.1") =>
  new Promise<boolean>((resolve) => {
    const socket = Net.connect(port, host)
    socket.once("connect", () => {
      socket.end()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

/** Whether PostgreSQL and Redis run; throws when they do not and `CI` is set. */
export const requireServices = async (): Promise<boolean> => {
  const up = (await reachable(5432)) && (await reachable(6379))
  if (!up && process.env.CI !== undefined) {
    throw new Error("PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) are required when CI is set")
  }
  return up
}

/** A name for this run's PostgreSQL schema, Redis prefix and queue. */
export const runName = (prefix: string) =>
  `${prefix}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6).toString(36)}`

/** Drop a run's schema. */
export const dropSchema = async (schema: string) => {
  const sql = postgres("postgres://postgres@127.0.0.1:5432/test", { max: 1, onnotice: () => {} })
  await sql.unsafe(`drop schema if exists "${schema}" cascade`)
  await sql.end()
}

/** The host configuration of a run: its own schema, Redis prefix and queue, two units at a time, the emulator. */
export const runConfig = (run: string, bedrockEndpoint: string): HostConfig => ({
  ...fromEnv({}),
  schema: run,
  redisPrefix: run,
  queueName: `q-${run}`,
  concurrency: 2,
  bedrockEndpoint
})
