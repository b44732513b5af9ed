//! 1,000 greenlets that each sleep 100 ms finish together in about 100 ms.
//!
//! ```text
//! cargo run --example concurrent
//! ```

use std::time::{Duration, Instant};

fn main() {
    let start = Instant::now();
    let greenlets: Vec<_> = (0..1000)
        .map(|i| {
            greenlight::spawn(move || {
                greenlight::sleep(Duration::from_millis(100));
                i
            })
        })
        .collect();
    greenlight::joinall(&greenlets, None).expect("no Timeout in scope");
    let elapsed = start.elapsed();
    let sum: u64 = greenlets.into_iter().map(|g| g.join().unwrap()).sum();
    println!("1000 greenlets slept 100 ms each; all done in {elapsed:.1?} (sum of ids {sum})");
}
