// A TOKEN authorizer: the token from the TOKEN setting may call every method
// of the stage; any other token is refused with 401.
export const handler = async (event) => {
  let token = event.authorizationToken ?? '';
  if (token.toLowerCase().startsWith('bearer ')) token = token.slice(7);
  if (token !== process.env.TOKEN) throw new Error('Unauthorized');
  // arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/PATH
  const [arn, stage] = event.methodArn.split('/');
  return {
    principalId: process.env.PRINCIPAL ?? 'me',
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: `${arn}/${stage}/*` }],
    },
    context: { tokenSource: 'lambda' },
  };
};
