/** AWS shapes for the handlers' unit tests: SQS records as Lambda's event-source mapping hands them over, answers
 * of the mocked services. */
import type { PutEventsCommandInput, PutEventsCommandOutput } from "@aws-sdk/client-eventbridge";
import type { SQSRecord } from "aws-lambda";

/** The queue DataProcessor reads (the test environment's name). */
export const PROCESSING_QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:ProcessingQueue-test";

/** One record, received once; `body` as given when a string, else as JSON. */
export function sqsRecord(messageId: string, body: unknown, queueArn = PROCESSING_QUEUE_ARN): SQSRecord {
  return {
    messageId,
    receiptHandle: `rh-${messageId}`,
    body: typeof body === "string" ? body : JSON.stringify(body),
    attributes: { ApproximateReceiveCount: "1", SentTimestamp: "1", SenderId: "x", ApproximateFirstReceiveTimestamp: "1" },
    messageAttributes: {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: queueArn,
    awsRegion: "us-east-1",
  };
}

/** EventBridge's answer to a PutEvents that accepts every entry (event ids e0, e1, ...). */
export function putEventsAccepted(input: PutEventsCommandInput): Partial<PutEventsCommandOutput> {
  return { FailedEntryCount: 0, Entries: (input.Entries ?? []).map((_, i) => ({ EventId: `e${i}` })) };
}
