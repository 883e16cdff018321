import COpenBLAS
import Foundation

/// OpenBLAS (Debian's `libopenblas0`), loaded on first use. Loaded at program start, OpenBLAS
/// starts a thread per core that spins for a while, taking a core from whatever the program does
/// first; loaded here, only by a forward pass, and asked for one thread, it starts none: the
/// forward pass splits each layer into blocks on its own threads and calls single-threaded
/// BLAS inside each.
///
/// Its kernels are chosen here from the CPU's features, before it is loaded (``coreType(flags:)``):
/// Debian's OpenBLAS 0.3.21 picks them by CPU model and does not know the newer ones (Sapphire and
/// Emerald Rapids, Zen 4 and 5), on which it falls back to its SSE3 kernels ("Prescott"), ten times
/// slower than its AVX-512 ones on the same CPU.
enum BLAS {
    struct Functions: @unchecked Sendable {
        /// oneDNN's `dnnl_sgemm` (Debian's `libdnnl2`), when it loads: JIT kernels it picks for the CPU.
        let oneDNN: unet_dnnl_sgemm?
        /// OpenBLAS, the fallback.
        let sgemm: unet_cblas_sgemm?
        let setThreads: unet_openblas_set_num_threads?
        let getThreads: unet_openblas_get_num_threads?
        /// What runs the products, such as "oneDNN 2.6.3 (avx512_core_amx)" or "OpenBLAS (SkylakeX kernels)".
        let description: String
    }

    /// The library's functions, or why it could not be loaded.
    static let functions: Result<Functions, InferenceError> = load()

    /// oneDNN's sgemm, unless `UNET_CKPT_BLAS=openblas` asks for OpenBLAS (a diagnostic switch).
    /// It runs on OpenMP, asked here for one thread per call unless `OMP_NUM_THREADS` says otherwise.
    private static func loadOneDNN() -> Functions? {
        guard ProcessInfo.processInfo.environment["UNET_CKPT_BLAS"] != "openblas" else { return nil }
        setenv("OMP_NUM_THREADS", "1", 0)
        guard let library = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL), let sgemm = dlsym(library, "dnnl_sgemm")
        else { return nil }
        var description = "oneDNN"
        if let version = dlsym(library, "dnnl_version"), let info = unsafeBitCast(version, to: unet_dnnl_version.self)() {
            description += " \(info.pointee.major).\(info.pointee.minor).\(info.pointee.patch)"
        }
        return Functions(
            oneDNN: unsafeBitCast(sgemm, to: unet_dnnl_sgemm.self), sgemm: nil, setThreads: nil, getThreads: nil,
            description: description)
    }

    /// The OpenBLAS kernel family (`OPENBLAS_CORETYPE`) for a CPU with these `/proc/cpuinfo`
    /// flags: "SkylakeX" (AVX-512, what OpenBLAS runs on every AVX-512 CPU it knows, Intel and
    /// AMD), "Haswell" (AVX2 and FMA, as on Zen 1–3), or nil to leave the choice to OpenBLAS. The
    /// kernel lists these flags only where the operating system saves the vector registers, so a
    /// flag present is a feature that can be used.
    static func coreType(flags: Set<Substring>) -> String? {
        if ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains) { return "SkylakeX" }
        if ["avx2", "fma"].allSatisfy(flags.contains) { return "Haswell" }
        return nil
    }

    /// The CPU's flags, from the first processor of `/proc/cpuinfo` (empty where there is none).
    static func cpuFlags() -> Set<Substring> {
        guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
            let list = line.split(separator: ":", maxSplits: 1).last
        else { return [] }
        return Set(list.split(separator: " "))
    }

    private static func load() -> Result<Functions, InferenceError> {
        if let oneDNN = loadOneDNN() { return .success(oneDNN) }
        // Respect an explicit setting; otherwise no threads of its own, and the kernels for this CPU
        // (read by OpenBLAS when it loads, so this works for any program that uses the library,
        // unless the program has loaded OpenBLAS itself before).
        setenv("OPENBLAS_NUM_THREADS", "1", 0)
        if let coreType = coreType(flags: cpuFlags()) { setenv("OPENBLAS_CORETYPE", coreType, 0) }
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
            let coreName = dlsym(library, "openblas_get_corename").map {
                unsafeBitCast($0, to: unet_openblas_get_corename.self)().map { String(cString: $0) } ?? "unknown"
            }
            return .success(
                Functions(
                    oneDNN: nil, sgemm: unsafeBitCast(sgemm, to: unet_cblas_sgemm.self),
                    setThreads: unsafeBitCast(set, to: unet_openblas_set_num_threads.self),
                    getThreads: unsafeBitCast(get, to: unet_openblas_get_num_threads.self),
                    description: "OpenBLAS (\(coreName ?? "unknown") kernels)"))
        }
        return .failure(
            InferenceError(
                message: "neither oneDNN nor OpenBLAS can be loaded (install Debian's libdnnl2 or libopenblas0): "
                    + (problems.first ?? "not found")))
    }

    /// The loaded functions; call only after ``require()`` succeeded.
    static var loaded: Functions {
        guard case .success(let functions) = functions else { preconditionFailure("BLAS.require() first") }
        return functions
    }

    /// What runs the GEMMs, for reports, or why nothing can.
    static var description: String {
        switch functions {
        case .success(let functions): functions.description
        case .failure(let error): error.message
        }
    }

    /// Throws the reason OpenBLAS is missing, if it is.
    static func require() throws(InferenceError) { _ = try functions.get() }

    /// `C = A · B` (or with A transposed; `C += A · B` when accumulating), row-major, single
    /// precision: `sgemm` with alpha 1 and beta 0 (or 1).
    static func multiply(
        transposeA: Bool = false, m: Int, n: Int, k: Int, _ a: UnsafePointer<Float>, lda: Int,
        _ b: UnsafePointer<Float>, ldb: Int, into c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false
    ) {
        let functions = loaded
        let beta: Float = accumulate ? 1 : 0
        if let oneDNN = functions.oneDNN {
            _ = oneDNN(
                CChar(UInt8(ascii: transposeA ? "T" : "N")), CChar(UInt8(ascii: "N")), m, n, k, 1, a, lda, b, ldb, beta,
                c, ldc)
            return
        }
        functions.sgemm!(
            Int32(UNET_CBLAS_ROW_MAJOR), Int32(transposeA ? UNET_CBLAS_TRANS : UNET_CBLAS_NO_TRANS),
            Int32(UNET_CBLAS_NO_TRANS), Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb), beta, c,
            Int32(ldc))
    }

    /// Runs `body` with OpenBLAS restricted to one thread, restoring its setting afterwards.
    static func singleThreaded<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        guard let get = loaded.getThreads, let set = loaded.setThreads else { return try body() }
        let saved = get()
        set(1)
        defer { set(saved) }
        return try body()
    }
}
