// A real OpenID provider (panva/oidc-provider) for the hub's token tests.
//
//   node server.mjs [PORT]      PORT 0 (the default) lets the kernel pick a free one
//
// Listens on 127.0.0.1 and prints one line "OIDC-PROVIDER READY <issuer>" once it serves.
// Client credentials give RFC 9068 JWT access tokens (RS256) whose audience is the hub's
// ("hub", for resource urn:hub:api, the default) or another API's ("other", urn:other:api),
// with the hub's claims: agency, roles and Keycloak-style realm_access.roles.
// POST /test/rotate restarts the provider with a new signing key first in its JWKS (old
// keys stay published), as an operator rotating keys would; it answers {"kid": …}.
// The process exits when its standard input closes, so a killed test run leaves nothing.
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';

const port = Number(process.argv[2] ?? process.env.OIDC_PORT ?? 0);

const CLIENTS = [
  {
    client_id: 'hub-test',
    client_secret: 'hub-test-secret',
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
  },
];
// What the province's IdP would hold about each client.
const PROFILES = {
  'hub-test': { agency: 'so-tnmt', roles: ['reader', 'owner'], realmRoles: ['steward', 'offline_access'] },
};
const RESOURCES = {
  'urn:hub:api': 'hub',
  'urn:other:api': 'other',
};

let keyCount = 0;
function newSigningKey() {
  keyCount += 1;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: `rsa-${keyCount}`, alg: 'RS256', use: 'sig' };
}

function makeProvider(issuer, signingKeys) {
  const provider = new Provider(issuer, {
    clients: CLIENTS,
    jwks: { keys: signingKeys },
    cookies: { keys: ['test-only-cookie-key'] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'urn:hub:api',
        useGrantedResource: () => true,
        getResourceServerInfo(ctx, resourceIndicator) {
          const audience = RESOURCES[resourceIndicator];
          if (!audience) throw new errors.InvalidTarget();
          return {
            scope: 'api',
            audience,
            accessTokenTTL: 300,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    extraTokenClaims(ctx, token) {
      const profile = PROFILES[token.clientId];
      if (!profile) return undefined;
      return {
        agency: profile.agency,
        roles: profile.roles,
        realm_access: { roles: profile.realmRoles },
      };
    },
  });
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  return provider;
}

let keys = [newSigningKey()];
let current = null;
let handler = null;
let issuer = null;

const server = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/test/rotate') {
    keys = [newSigningKey(), ...keys];
    current = makeProvider(issuer, keys);
    handler = current.callback();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kid: keys[0].kid }));
    return;
  }
  if (!handler) {
    res.writeHead(503);
    res.end();
    return;
  }
  handler(req, res);
});

server.listen(port, '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  current = makeProvider(issuer, keys);
  handler = current.callback();
  console.log(`OIDC-PROVIDER READY ${issuer}`);
});

function stop() {
  server.close();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();
