import COpenBLAS
import Foundation

/// OpenBLAS (Debian's `libopenblas0`), loaded on first use. Loaded at program start, OpenBLAS
/// starts a thread per core that spins for a while, taking a core from whatever the program does
/// first; loaded here, only by a forward pass, and asked for one thread, it starts none: the
/// forward pass splits each layer into blocks on its own threads and calls single-threaded
/// BLAS inside each.
enum BLAS {
    struct Functions: @unchecked Sendable {
        let sgemm: unet_cblas_sgemm
        let setThreads: unet_openblas_set_num_threads
        let getThreads: unet_openblas_get_num_threads
    }

    /// The library's functions, or why it could not be loaded.
    static let functions: Result<Functions, InferenceError> = load()

    private static func load() -> Result<Functions, InferenceError> {
        // Respect an explicit setting; otherwise no threads of its own.
        setenv("OPENBLAS_NUM_THREADS", "1", 0)
        var problems: [String] = []
        for name in ["libopenblas.so.0", "libopenblas.so", "libopenblas.dylib"] {
            guard let library = dlopen(name, RTLD_NOW | RTLD_LOCAL) else {
                problems.append(dlerror().map { String(cString: $0) } ?? name)
                continue
            }
            guard let sgemm = dlsym(library, "cblas_sgemm"), let set = dlsym(library, "openblas_set_num_threads"),
                let get = dlsym(library, "openblas_get_num_threads")
            else {
                return .failure(InferenceError(message: "\(name) has no cblas_sgemm: it is not OpenBLAS"))
            }
            return .success(
                Functions(
                    sgemm: unsafeBitCast(sgemm, to: unet_cblas_sgemm.self),
                    setThreads: unsafeBitCast(set, to: unet_openblas_set_num_threads.self),
                    getThreads: unsafeBitCast(get, to: unet_openblas_get_num_threads.self)))
        }
        return .failure(
            InferenceError(
                message: "OpenBLAS cannot be loaded (install Debian's libopenblas0): "
                    + (problems.first ?? "not found")))
    }

    /// The loaded functions; call only after ``require()`` succeeded.
    static var loaded: Functions {
        guard case .success(let functions) = functions else { preconditionFailure("BLAS.require() first") }
        return functions
    }

    /// Throws the reason OpenBLAS is missing, if it is.
    static func require() throws(InferenceError) { _ = try functions.get() }

    /// `C = A · B` (or with A transposed), row-major, single precision: CBLAS's `sgemm` with
    /// alpha 1 and beta 0.
    static func multiply(
        transposeA: Bool = false, m: Int, n: Int, k: Int, _ a: UnsafePointer<Float>, lda: Int,
        _ b: UnsafePointer<Float>, ldb: Int, into c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        loaded.sgemm(
            Int32(UNET_CBLAS_ROW_MAJOR), Int32(transposeA ? UNET_CBLAS_TRANS : UNET_CBLAS_NO_TRANS),
            Int32(UNET_CBLAS_NO_TRANS), Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb), 0, c,
            Int32(ldc))
    }

    /// Runs `body` with OpenBLAS restricted to one thread, restoring its setting afterwards.
    static func singleThreaded<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        let saved = loaded.getThreads()
        loaded.setThreads(1)
        defer { loaded.setThreads(saved) }
        return try body()
    }
}
