import Foundation

/// Work split across threads, for the package's modules: reading tensors, checksums and the
/// forward pass's blocks.
package enum Parallel {
    /// Calls `body(index, worker)` for every index in `0..<count` on up to `threads` threads; each
    /// worker takes every `threads`-th index and is told its number (for per-thread scratch). The
    /// body must only write disjoint memory.
    package static func forEach(_ count: Int, threads: Int, _ body: (_ index: Int, _ worker: Int) -> Void) {
        let workers = max(1, min(threads, count))
        if workers == 1 {
            for index in 0..<count { body(index, 0) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                for index in stride(from: worker, to: count, by: workers) { shared.value(index, worker) }
            }
        }
    }

    /// The cores of this machine, the default for every parallel step.
    package static var cores: Int { ProcessInfo.processInfo.activeProcessorCount }
}

/// A value handed to worker threads that only read it, or write disjoint parts of what it points to.
package struct UncheckedSendable<Value>: @unchecked Sendable {
    package let value: Value
    package init(_ value: Value) { self.value = value }
}
