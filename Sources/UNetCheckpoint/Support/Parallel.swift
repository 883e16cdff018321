import Foundation

/// Work split across threads, for the package's modules: reading tensors, checksums and the
/// forward pass's blocks.
package enum Parallel {
    /// Calls `body(index, worker)` for every index in `0..<count` on up to `threads` threads; each
    /// worker takes the next index not yet taken (so a worker slowed by another program on its core
    /// does fewer, instead of holding the others up) and is told its number (for per-thread
    /// scratch). The body must only write disjoint memory.
    package static func forEach(_ count: Int, threads: Int, _ body: (_ index: Int, _ worker: Int) -> Void) {
        let workers = max(1, min(threads, count))
        if workers == 1 {
            for index in 0..<count { body(index, 0) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedSendable(body)
            let next = NextIndex()
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                while case let index = next.take(), index < count { shared.value(index, worker) }
            }
        }
    }

    /// The cores of this machine, the default for every parallel step.
    package static var cores: Int { ProcessInfo.processInfo.activeProcessorCount }
}

/// The indices handed out one at a time to the workers of ``Parallel/forEach(_:threads:_:)``.
private final class NextIndex: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0

    func take() -> Int {
        lock.lock()
        defer { lock.unlock() }
        next += 1
        return next - 1
    }
}

/// A value handed to worker threads that only read it, or write disjoint parts of what it points to.
package struct UncheckedSendable<Value>: @unchecked Sendable {
    package let value: Value
    package init(_ value: Value) { self.value = value }
}
