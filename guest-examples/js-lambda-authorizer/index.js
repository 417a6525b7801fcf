// A Lambda authorizer in the style of AWS's Node.js blueprint: a CommonJS
// module (`exports.handler`), an AuthPolicy builder and the callback
// convention. Plain Lambda code for Node.js: nothing here knows Turnpike.
// The tokens mean what they mean in guest-examples/python-lambda-authorizer.

'use strict';

class AuthPolicy {
  constructor(principal, awsAccountId, apiOptions) {
    this.awsAccountId = awsAccountId;
    this.principalId = principal;
    this.version = '2012-10-17';
    this.pathRegex = /^[/.a-zA-Z0-9-*]+$/;
    this.allowMethods = [];
    this.denyMethods = [];
    this.restApiId = apiOptions.restApiId ?? '*';
    this.region = apiOptions.region ?? '*';
    this.stage = apiOptions.stage ?? '*';
  }

  addMethod(effect, verb, resource) {
    if (!this.pathRegex.test(resource)) throw new Error(`Invalid resource path: ${resource}`);
    const cleaned = resource.startsWith('/') ? resource.slice(1) : resource;
    const arn = `arn:aws:execute-api:${this.region}:${this.awsAccountId}:${this.restApiId}/${this.stage}/${verb}/${cleaned}`;
    (effect === 'allow' ? this.allowMethods : this.denyMethods).push(arn);
  }

  allowAllMethods() { this.addMethod('allow', '*', '*'); }
  allowMethod(verb, resource) { this.addMethod('allow', verb, resource); }
  denyMethod(verb, resource) { this.addMethod('deny', verb, resource); }

  build() {
    const statements = [];
    if (this.allowMethods.length) {
      statements.push({ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: this.allowMethods });
    }
    if (this.denyMethods.length) {
      statements.push({ Action: 'execute-api:Invoke', Effect: 'Deny', Resource: this.denyMethods });
    }
    return { principalId: this.principalId, policyDocument: { Version: this.version, Statement: statements } };
  }
}

function tokenOf(event) {
  const headers = event.headers ?? {};
  const token = event.authorizationToken ?? headers.authorization ?? headers.Authorization ?? '';
  return token.toLowerCase().startsWith('bearer ') ? token.slice(7) : token;
}

exports.handler = function (event, context, callback) {
  const token = tokenOf(event);
  if (token === 'simple-yes') {
    return callback(null, { isAuthorized: true, context: { user: 'simple', level: 3, nested: { a: 1 } } });
  }
  if (token === 'simple-no') return callback(null, { isAuthorized: false });
  if (!['alice', 'bob', 'carol', 'nested'].includes(token)) return callback('Unauthorized');

  const tmp = (event.methodArn ?? event.routeArn).split(':');
  const apiGatewayArnTmp = tmp[5].split('/');
  const policy = new AuthPolicy(token, tmp[4], {
    restApiId: apiGatewayArnTmp[0],
    region: tmp[3],
    stage: apiGatewayArnTmp[1],
  });
  if (token === 'bob') {
    policy.allowMethod('GET', '/pets');
    policy.allowMethod('GET', '/pets/*');
  } else {
    policy.allowAllMethods();
    if (token === 'carol') policy.denyMethod('*', '/admin*');
  }
  const response = policy.build();
  response.context = token === 'nested'
    ? { user: { id: 3 } }
    : { stringKey: 'value', numberKey: 1, booleanKey: true };
  callback(null, response);
};
