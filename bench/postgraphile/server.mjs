// PostGraphile v5 HTTP server for the benchmark: POST /graphql on HOST:PORT.
//
//   WORKERS=2 BALANCE=reuseport ./node_modules/.bin/node server.mjs
//
// WORKERS processes serve the same port. BALANCE=reuseport (default): each worker binds its
// own SO_REUSEPORT socket and the kernel spreads connections, as `hub serve --workers N` does.
// BALANCE=cluster: Node's cluster primary accepts and hands connections round-robin.
import cluster from "node:cluster";
import { createServer } from "node:http";
import { postgraphile } from "postgraphile";
import { grafserv } from "postgraphile/grafserv/node";
import preset from "./graphile.config.mjs";

const host = process.env.HOST ?? "127.0.0.1";
const port = Number(process.env.PORT ?? 8802);
const workers = Number(process.env.WORKERS ?? 1);
const balance = process.env.BALANCE ?? "reuseport";

if (balance !== "reuseport" && balance !== "cluster") {
  console.error(`BALANCE must be reuseport or cluster, not ${balance}`);
  process.exit(2);
}

if (workers > 1 && cluster.isPrimary) {
  if (balance === "cluster") cluster.schedulingPolicy = cluster.SCHED_RR;
  console.log(`primary ${process.pid}: ${workers} workers, balance=${balance}`);
  for (let i = 0; i < workers; i++) cluster.fork();
  let stopping = false;
  cluster.on("exit", (worker, code, signal) => {
    if (!stopping) {
      console.error(`worker ${worker.process.pid} exited (${signal ?? code}); stopping`);
      stop();
    }
  });
  const stop = () => {
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.kill("SIGTERM");
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
} else {
  const pgl = postgraphile(preset);
  const serv = pgl.createServ(grafserv);
  const server = createServer();
  server.keepAliveTimeout = 65_000;
  server.on("error", (e) => {
    console.error(`worker ${process.pid}: ${e.message}`);
    process.exit(1);
  });
  await serv.addTo(server);
  // In a cluster worker, exclusive: true makes the worker bind its own socket instead of
  // sharing the primary's; with reusePort the kernel balances between those sockets.
  const own = balance === "reuseport";
  server.listen({ host, port, reusePort: own, exclusive: own }, () => {
    console.log(`worker ${process.pid} listening on http://${host}:${port}/graphql`);
  });
  const stop = () => {
    server.close();
    pgl.release().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
