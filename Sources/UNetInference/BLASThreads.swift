import COpenBLAS
import UNetCheckpoint

/// The forward pass parallelises itself over blocks of a layer and calls OpenBLAS
/// single-threaded inside each block: every core stays busy on cache-sized pieces instead of
/// synchronising BLAS threads on small matrices.
enum BLASThreads {
    /// Runs `body` with OpenBLAS restricted to one thread, restoring its setting afterwards.
    static func single<T>(_ body: () throws -> T) rethrows -> T {
        let saved = openblas_get_num_threads()
        openblas_set_num_threads(1)
        defer { openblas_set_num_threads(saved) }
        return try body()
    }
}
