// PostGraphile v5 over the plain benchmark tables (schema bench_pg), amber preset, default
// inflection: allBusinesses(condition:, orderBy:, first:), businessByTaxCode(taxCode:),
// LandParcel.businessByHolderTaxCode, Business.landParcelsByHolderTaxCode,
// allCitizens(orderBy: RECORD_KEY_ASC), allBusinesses(orderBy: [NAME_SORT_ASC, TAX_CODE_ASC]).
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

const connectionString =
  process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/pg_bench";
const poolSize = Number(process.env.PG_POOL_SIZE ?? 10); // the hub's db_pool_size default
// Roles a request may take on with the header X-Bench-Role: the citizen reader of Q4, whose
// column privileges and row-level security policy mirror the hub's citizen grant
// (bench/load.py). Without the header, requests run as the connecting user, unauthenticated.
const benchRoles = new Set(
  (process.env.PG_BENCH_ROLES ?? "bench_citizen_reader").split(",").filter(Boolean),
);

/** PostgreSQL settings of one request: its role, in a transaction, when it names one. */
function pgSettings(requestContext) {
  const role = requestContext?.node?.req?.headers?.["x-bench-role"];
  return typeof role === "string" && benchRoles.has(role) ? { role } : undefined;
}

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({
      connectionString,
      schemas: [process.env.PG_SCHEMA ?? "bench_pg"],
      pubsub: false,
      poolConfig: { max: poolSize },
      pgSettings,
    }),
  ],
  grafserv: {
    graphiql: false,
    watch: false,
  },
  grafast: {
    explain: false,
  },
};

export default preset;
