// A Backstage backend built from Backstage's own packages, for
// backstage_test.go: discovery sends "auth" to Gatehouse, so every user
// token is verified by Backstage's code against Gatehouse's JWKS.
//
//   GET /api/caller/whoami      requires a user's credentials
//   GET /api/caller/on-behalf   calls callee's /whoami on the user's behalf
//                               (auth.getPluginRequestToken with onBehalfOf)
//   GET /api/callee/whoami      requires a user's credentials
//
// node backend.cjs --config app-config.yaml (written by the test).
'use strict';

const { createBackend } = require('@backstage/backend-defaults');
const { createBackendPlugin, coreServices } = require('@backstage/backend-plugin-api');
const express = require('express');

// whoami answers the user entity ref of the request's credentials, or the
// error Backstage raised (its status and message).
function whoami(httpAuth) {
  return async (req, res) => {
    try {
      const credentials = await httpAuth.credentials(req, { allow: ['user'] });
      res.json({ user: credentials.principal.userEntityRef });
    } catch (err) {
      res.status(statusOf(err)).json({ error: err.name, message: err.message });
    }
  };
}

function statusOf(err) {
  return err.name === 'AuthenticationError' ? 401 : err.name === 'NotAllowedError' ? 403 : 500;
}

const callee = createBackendPlugin({
  pluginId: 'callee',
  register(env) {
    env.registerInit({
      deps: { http: coreServices.httpRouter, httpAuth: coreServices.httpAuth },
      async init({ http, httpAuth }) {
        const router = express.Router();
        router.get('/whoami', whoami(httpAuth));
        http.use(router);
      },
    });
  },
});

const caller = createBackendPlugin({
  pluginId: 'caller',
  register(env) {
    env.registerInit({
      deps: {
        http: coreServices.httpRouter,
        httpAuth: coreServices.httpAuth,
        auth: coreServices.auth,
        discovery: coreServices.discovery,
      },
      async init({ http, httpAuth, auth, discovery }) {
        const router = express.Router();
        router.get('/whoami', whoami(httpAuth));
        router.get('/on-behalf', async (req, res) => {
          try {
            const credentials = await httpAuth.credentials(req, { allow: ['user'] });
            const { token } = await auth.getPluginRequestToken({
              onBehalfOf: credentials,
              targetPluginId: 'callee',
            });
            const base = await discovery.getBaseUrl('callee');
            const answer = await fetch(`${base}/whoami`, {
              headers: { Authorization: `Bearer ${token}` },
            });
            res.status(answer.status).json(await answer.json());
          } catch (err) {
            res.status(statusOf(err)).json({ error: err.name, message: err.message });
          }
        });
        http.use(router);
      },
    });
  },
});

const backend = createBackend();
backend.add(callee);
backend.add(caller);
backend.start();
