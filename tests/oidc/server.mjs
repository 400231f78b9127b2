// OpenID Connect provider for Gatehouse tests: device authorization grant, dev login pages, groups claim.
// Env: OIDC_PORT (0 = any free port), OIDC_CLIENT_SECRET (for the confidential client),
// OIDC_ACCOUNTS (JSON object: account id -> list of groups), OIDC_KID (signing key id; a restart
// with another kid on the same port is a key rotation), OIDC_SERVICE_CLIENTS (JSON object: client
// id -> secret, client-credentials clients whose access tokens are JWTs for the resource they ask,
// default urn:gatehouse), OIDC_DEVICE_TTL (seconds a device code lives, default 600),
// OIDC_ACCESS_TTLS (JSON object: client id -> seconds its access tokens live, default 600),
// OIDC_CONFORM=1 (claims a scope asks for go to userinfo only, as OIDC Core says, not into the ID
// token). Prints one JSON line when listening.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';
import Provider from 'oidc-provider';

const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';
const accessTtls = JSON.parse(process.env.OIDC_ACCESS_TTLS || '{}');
const accounts = JSON.parse(process.env.OIDC_ACCOUNTS || JSON.stringify({
  alice: ['engineers'],
  bob: ['approvers', 'reviewers', 'auditors'],
  carol: [],
}));
const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

const server = http.createServer();
server.listen(Number(process.env.OIDC_PORT || 0), '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const clients = [{
    client_id: 'gatehouse',
    token_endpoint_auth_method: 'none',
    grant_types: [DEVICE, 'refresh_token'],
    response_types: [],
    redirect_uris: [],
  }];
  if (process.env.OIDC_CLIENT_SECRET) {
    clients.push({
      client_id: 'gatehouse-confidential',
      client_secret: process.env.OIDC_CLIENT_SECRET,
      token_endpoint_auth_method: 'client_secret_post',
      grant_types: [DEVICE, 'refresh_token'],
      response_types: [],
      redirect_uris: [],
    });
  }
  const services = JSON.parse(process.env.OIDC_SERVICE_CLIENTS || '{}');
  for (const [id, secret] of Object.entries(services)) {
    clients.push({
      client_id: id,
      client_secret: secret,
      token_endpoint_auth_method: 'client_secret_post',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
    });
  }
  const kid = process.env.OIDC_KID || 'test-rs256';
  const provider = new Provider(issuer, {
    clients,
    jwks: { keys: [{ ...signingKey, kid, use: 'sig', alg: 'RS256' }] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    features: {
      deviceFlow: { enabled: true },
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // service clients get a JWT for urn:gatehouse; a person's access token stays for userinfo
        defaultResource: (ctx, client, oneOf) =>
          oneOf ?? (client.grantTypeAllowed('client_credentials') ? 'urn:gatehouse' : undefined),
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource, client) => ({
          scope: 'run',
          audience: resource,
          accessTokenTTL: accessTtls[client.clientId] ?? 600,
          accessTokenFormat: 'jwt',
        }),
      },
    },
    conformIdTokenClaims: process.env.OIDC_CONFORM === '1',
    ttl: { DeviceCode: Number(process.env.OIDC_DEVICE_TTL || 600) },
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups', 'run'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      groups: ['groups'],
    },
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    async findAccount(ctx, id) {
      return {
        accountId: id,
        async claims() {
          return {
            sub: id,
            name: id,
            preferred_username: id,
            email: `${id}@example.test`,
            email_verified: true,
            groups: accounts[id] ?? [],
          };
        },
      };
    },
  });
  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ listening: port, issuer })}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
