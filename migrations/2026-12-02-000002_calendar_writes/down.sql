DROP TABLE calendar_writes;
