"""The shared vocabulary of pocketdesk, brokers included: values and pure rules, no I/O."""
