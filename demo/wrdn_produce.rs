//! Announces files on Kafka the way the ESS file writer does (one `wrdn`
//! FinishedWriting message per file), for `make bench` and trying the
//! daemon by hand. File names come from the arguments or, with `-`, one per
//! line on stdin; `--partitions N` creates the topic first.
//!
//! Usage: wrdn-produce BOOTSTRAP TOPIC [--partitions N] (FILE... | -)

use std::io::BufRead;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use scicat_ingestor::online::fbs::{FinishedWritingArgs, build_finished_writing};

const USAGE: &str = "usage: wrdn-produce BOOTSTRAP TOPIC [--partitions N] (FILE... | -)";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("{USAGE}");
        std::process::exit(2);
    }
    let (bootstrap, topic) = (&args[0], &args[1]);
    let mut files = Vec::new();
    let mut partitions = None;
    let mut rest = args[2..].iter();
    while let Some(a) = rest.next() {
        match a.as_str() {
            "--partitions" => partitions = rest.next().and_then(|n| n.parse::<i32>().ok()),
            "-" => files.extend(std::io::stdin().lock().lines().map_while(Result::ok)),
            f => files.push(f.to_string()),
        }
    }
    if let Some(n) = partitions {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .create()
            .expect("an admin client");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let res = rt
            .block_on(admin.create_topics(
                &[NewTopic::new(topic, n, TopicReplication::Fixed(1))],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(20))),
            ))
            .expect("topic creation answered");
        for r in res {
            if let Err((t, e)) = r {
                eprintln!("cannot create topic {t}: {e}");
            }
        }
    }
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .create()
        .expect("a producer");
    for (i, f) in files.iter().enumerate() {
        let payload = build_finished_writing(&FinishedWritingArgs {
            service_id: "wrdn-produce",
            job_id: &format!("job-{i}"),
            file_name: f,
            ..Default::default()
        });
        let mut record = BaseRecord::<(), _>::to(topic).payload(&payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    // The local queue is full: let it drain.
                    producer.poll(Duration::from_millis(50));
                    record = r;
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer
        .flush(Duration::from_secs(60))
        .expect("all messages written");
    eprintln!("{} message(s) sent to {topic}", files.len());
}
