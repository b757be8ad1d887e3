/** Environment of DataProcessor under unit test. Imported FIRST by the test files, before the handler module. */
process.env.AWS_REGION = "us-east-1";
process.env.STATE_TABLE = "MarketDataState-test";
process.env.EVENT_BUS_NAME = "MarketDataEvents-test";
process.env.EVENT_SOURCE = "market-data.processor";
process.env.EVENT_DETAIL_TYPE = "TicksStored";
process.env.DATA_RETENTION_DAYS = "30";
process.env.POWERTOOLS_SERVICE_NAME = "processor";
process.env.POWERTOOLS_METRICS_NAMESPACE = "MarketData";
process.env.POWERTOOLS_LOG_LEVEL = "SILENT";
