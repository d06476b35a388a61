/**
 * `@myia/certification-postgres`: the Storage port on PostgreSQL through postgres.js, with
 * numbered migrations in their own schema.
 *
 * @since 0.1.0
 */
export * as PgClient from "./PgClient.ts"
export * as PgMigrations from "./PgMigrations.ts"
export * as PgStorage from "./PgStorage.ts"
