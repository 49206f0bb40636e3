// A small CDK app for the sandbox's CDK CLI test: a Lambda function whose code is a directory
// (a file asset the CLI zips and uploads to the bootstrap bucket) and an output.
const path = require('path');
const cdk = require('aws-cdk-lib');
const lambda = require('aws-cdk-lib/aws-lambda');

const app = new cdk.App();
const stack = new cdk.Stack(app, 'HelloStack');
const fn = new lambda.Function(stack, 'Hello', {
  runtime: lambda.Runtime.NODEJS_22_X,
  handler: 'index.handler',
  code: lambda.Code.fromAsset(path.join(__dirname, 'lambda')),
});
new cdk.CfnOutput(stack, 'FunctionName', { value: fn.functionName });
