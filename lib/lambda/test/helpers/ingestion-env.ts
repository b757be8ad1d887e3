/** Environment of DataIngestion under unit test. Imported FIRST by the test files, before the handler module. */
process.env.RAW_BUCKET = "raw-bucket";
process.env.PROCESSING_QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/ProcessingQueue-test";
process.env.POWERTOOLS_SERVICE_NAME = "ingestion";
process.env.POWERTOOLS_METRICS_NAMESPACE = "MarketData";
process.env.POWERTOOLS_TRACE_ENABLED = "false";
process.env.POWERTOOLS_LOG_LEVEL = "INFO";
process.env.AWS_REGION = "us-east-1";
process.env.AWS_ACCESS_KEY_ID = "test";
process.env.AWS_SECRET_ACCESS_KEY = "test";
delete process.env.POWERTOOLS_DEV;
delete process.env.POWERTOOLS_METRICS_DISABLED;
delete process.env.AWS_ENDPOINT_URL;
// the values the component sets with its default args (sdk/python/market_data_pipeline/functions.py): the bundle
// requires them and refuses to start without them
process.env.MAX_BODY_BYTES = "4194304";
process.env.API_ARCHIVE = "false";
