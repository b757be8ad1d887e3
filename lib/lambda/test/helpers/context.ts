/** A Lambda invocation context for handler unit tests (the fields the Context type requires). */
import type { Context } from "aws-lambda";

/**
 * The context of one invocation of `functionName` (us-east-1, account 123456789012, 3072 MB);
 * `remainingMs` answers getRemainingTimeInMillis (read at each call, so a test can change it).
 */
export function lambdaContext(functionName: string, awsRequestId: string, remainingMs: () => number): Context {
  return {
    awsRequestId,
    functionName,
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
    memoryLimitInMB: "3072",
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: "s",
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: remainingMs,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
