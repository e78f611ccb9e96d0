// Runs graphql-http's GraphQL-over-HTTP conformance audit against the URL given as the first
// argument and prints one JSON line per audit: {id, name, status, reason}.
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs http://host:port/graphql');
  process.exit(2);
}
const results = await auditServer({ url });
for (const result of results) {
  const line = { id: result.id, name: result.name, status: result.status };
  if (result.status !== 'ok') {
    line.reason = result.reason;
    try {
      line.response = (await result.response.text()).slice(0, 300);
      line.httpStatus = result.response.status;
      line.contentType = result.response.headers.get('content-type');
    } catch {
      // the body was already read by the audit
    }
  }
  console.log(JSON.stringify(line));
}
