"""The domain and services of pocketdesk; knows brokers only through the Broker protocol."""
