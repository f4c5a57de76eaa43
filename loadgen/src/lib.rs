//! kafkalab load generator (scenario engine, native client). Work starts in issue 4.
