// The MCP TypeScript SDK's OAuth clients against a real Gatehouse: an MCP
// host (the SDK's auth() through StreamableHTTPClientTransport) finds the
// authorization server from an MCP server's protected resource metadata
// (RFC 9728), registers itself (RFC 7591), runs the code flow with PKCE and
// resource (RFC 8707) to a loopback redirect URI, and refreshes; and the
// SDK's ClientCredentialsProvider for a machine client. The MCP server is
// built from the SDK's own server helpers: its protected resource metadata
// router and bearer-auth middleware, verifying Gatehouse's JWT access
// tokens for its resource (audience) with jose.
//
// A test marked todo is a known failure (issue 11); see openid-client.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import express from 'express';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { auth, refreshAuthorization, discoverAuthorizationServerMetadata, UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { mcpAuthMetadataRouter, getOAuthProtectedResourceMetadataUrl } from '@modelcontextprotocol/sdk/server/auth/router.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { issuer, approve, register, decodeJWT, detailed } from './gatehouse.mjs';

// listen serves handler on a free loopback port and returns the server,
// whose close also ends its idle keep-alive connections, so that the test
// process exits as soon as its tests are done.
async function listen(handler) {
  const srv = http.createServer(handler);
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const close = srv.close.bind(srv);
  srv.close = (cb) => {
    close(cb);
    srv.closeAllConnections();
    return srv;
  };
  return srv;
}

function origin(srv) {
  return `http://127.0.0.1:${srv.address().port}`;
}

// The MCP server: one tool, whoami, answering the token's subject and
// client, behind the SDK's bearer-auth middleware.
let mcpServer;
let mcpURL;

before(async () => {
  const res = await fetch(`${issuer}/.well-known/openid-configuration`);
  assert.equal(res.status, 200);
  const asMetadata = await res.json();
  const jwks = createRemoteJWKSet(new URL(asMetadata.jwks_uri));

  const app = express();
  mcpServer = await listen(app);
  mcpURL = new URL(`${origin(mcpServer)}/mcp`);

  // RFC 8707: the token must name this server as its audience.
  const verifier = {
    async verifyAccessToken(token) {
      let payload;
      try {
        ({ payload } = await jwtVerify(token, jwks, { issuer, audience: mcpURL.href }));
      } catch (err) {
        throw new InvalidTokenError(`access token refused: ${err.message}`);
      }
      return {
        token,
        clientId: payload.client_id ?? payload.azp,
        scopes: (payload.scope ?? '').split(' ').filter(Boolean),
        expiresAt: payload.exp,
        resource: mcpURL,
        extra: { sub: payload.sub },
      };
    },
  };
  app.use(mcpAuthMetadataRouter({ oauthMetadata: asMetadata, resourceServerUrl: mcpURL, resourceName: 'rp test' }));
  app.post('/mcp', express.json(), requireBearerAuth({
    verifier,
    expectedResource: mcpURL,
    resourceMetadataUrl: getOAuthProtectedResourceMetadataUrl(mcpURL),
  }), async (req, res) => {
    const server = new McpServer({ name: 'rp-test', version: '1.0.0' });
    server.registerTool('whoami', { description: 'the caller as the access token says' }, async (extra) => ({
      content: [{ type: 'text', text: JSON.stringify({ sub: extra.authInfo.extra.sub, client_id: extra.authInfo.clientId }) }],
    }));
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      transport.close();
      server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });
});

after(() => mcpServer?.close());

// HostProvider is an MCP host's OAuthClientProvider kept in memory: the
// registration, tokens and verifier, and the authorization URL it was
// asked to open (the test is the user agent).
class HostProvider {
  constructor(redirectUrl, clientInfo) {
    this._redirectUrl = redirectUrl;
    this._clientInfo = clientInfo;
    this.authorizationUrl = undefined;
  }
  get redirectUrl() {
    return this._redirectUrl;
  }
  get clientMetadata() {
    return {
      client_name: 'MCP host (rp test)',
      redirect_uris: [this._redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  clientInformation() {
    return this._clientInfo;
  }
  saveClientInformation(info) {
    this._clientInfo = info;
  }
  tokens() {
    return this._tokens;
  }
  saveTokens(tokens) {
    this._tokens = tokens;
  }
  redirectToAuthorization(url) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(v) {
    this._verifier = v;
  }
  codeVerifier() {
    return this._verifier;
  }
}

// loopbackCallback is the host's redirect listener on a new loopback port:
// it resolves code with the authorization code it receives.
async function loopbackCallback() {
  let deliver;
  const code = new Promise((resolve) => { deliver = resolve; });
  const srv = await listen((req, res) => {
    const q = new URL(req.url, 'http://127.0.0.1').searchParams;
    res.end('You can close this window.');
    deliver(q);
  });
  return { srv, redirectUrl: `${origin(srv)}/callback`, code };
}

async function whoami(authProvider) {
  const mcp = new Client({ name: 'rp-test-host', version: '1.0.0' });
  await mcp.connect(new StreamableHTTPClientTransport(mcpURL, { authProvider }));
  try {
    const out = await mcp.callTool({ name: 'whoami', arguments: {} });
    return JSON.parse(out.content[0].text);
  } finally {
    await mcp.close();
  }
}

// hostLogin runs the host's first connection: 401, discovery, DCR (unless
// provider holds a registration), the authorization request, the approval
// (as the guest) to the loopback listener, and finishAuth with the code.
async function hostLogin(provider, cb) {
  const mcp = new Client({ name: 'rp-test-host', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(mcpURL, { authProvider: provider });
  await assert.rejects(detailed(mcp.connect(transport)), UnauthorizedError);
  const authURL = provider.authorizationUrl;
  assert.ok(authURL, 'the SDK asked to open the authorization URL');
  assert.equal(authURL.searchParams.get('code_challenge_method'), 'S256');
  assert.equal(authURL.searchParams.get('resource'), mcpURL.href);
  assert.equal(authURL.searchParams.get('redirect_uri'), cb.redirectUrl);
  const redirect = await approve(authURL);
  assert.equal(redirect.origin + redirect.pathname, cb.redirectUrl);
  const res = await fetch(redirect);
  await res.text();
  const q = await cb.code;
  assert.equal(q.get('iss'), issuer);
  await detailed(transport.finishAuth(q.get('code')));
}

test('MCP host: DCR, code flow with PKCE and resource to a loopback redirect, tool call, refresh', async () => {
  const cb = await loopbackCallback();
  try {
    const provider = new HostProvider(cb.redirectUrl);
    await hostLogin(provider, cb);
    assert.ok(provider.clientInformation()?.client_id, 'registered by DCR');
    const first = provider.tokens();
    assert.ok(first.access_token && first.refresh_token, `tokens ${JSON.stringify(Object.keys(first))}`);
    assert.deepEqual([decodeJWT(first.access_token).payload.aud].flat(), [mcpURL.href]);

    const me = await whoami(provider);
    assert.equal(me.client_id, provider.clientInformation().client_id);
    assert.ok(me.sub);

    // auth() with a refresh token refreshes (as the transport does on a
    // 401), naming the resource again.
    assert.equal(await detailed(auth(provider, { serverUrl: mcpURL })), 'AUTHORIZED');
    const second = provider.tokens();
    assert.notEqual(second.access_token, first.access_token);
    assert.notEqual(second.refresh_token, first.refresh_token, 'refresh token rotated');
    assert.deepEqual([decodeJWT(second.access_token).payload.aud].flat(), [mcpURL.href]);
    assert.deepEqual(await whoami(provider), me);
  } finally {
    cb.srv.close();
  }
});

test('MCP host: a refresh naming another resource is refused with invalid_target (RFC 8707 §2)', async () => {
  const cb = await loopbackCallback();
  const provider = new HostProvider(cb.redirectUrl);
  try {
    await hostLogin(provider, cb);
  } finally {
    cb.srv.close();
  }
  const metadata = await discoverAuthorizationServerMetadata(issuer);
  await assert.rejects(refreshAuthorization(issuer, {
    metadata,
    clientInformation: provider.clientInformation(),
    refreshToken: provider.tokens().refresh_token,
    resource: new URL('http://127.0.0.1:9/another-server'),
  }), (err) => {
    assert.equal(err.errorCode ?? err.error, 'invalid_target', `${err.name}: ${err.message}`);
    return true;
  });
});

test('MCP host: a registered loopback redirect URI with another port (RFC 8252 §7.3)', async () => {
  const first = await loopbackCallback();
  let clientInfo;
  try {
    const provider = new HostProvider(first.redirectUrl);
    await hostLogin(provider, first);
    clientInfo = provider.clientInformation();
  } finally {
    first.srv.close();
  }
  // The host's next run listens on another port and keeps its registration.
  const next = await loopbackCallback();
  try {
    const provider = new HostProvider(next.redirectUrl, clientInfo);
    await hostLogin(provider, next);
    assert.equal(provider.clientInformation().client_id, clientInfo.client_id, 'no new registration');
    assert.ok((await whoami(provider)).sub);
  } finally {
    next.srv.close();
  }
});

test('ClientCredentialsProvider: a token for the MCP server (resource) at the token endpoint', async () => {
  const reg = await register({
    client_name: 'MCP machine client (rp test)',
    grant_types: ['client_credentials'],
    token_endpoint_auth_method: 'client_secret_basic',
  });
  const provider = new ClientCredentialsProvider({
    clientId: reg.client_id,
    clientSecret: reg.client_secret,
    expectedIssuer: issuer,
  });
  const me = await detailed(whoami(provider));
  assert.equal(me.client_id, reg.client_id);
  assert.deepEqual([decodeJWT(provider.tokens().access_token).payload.aud].flat(), [mcpURL.href]);
});
