import CHDF5

/// A failed HDF5 call: what was being done, where, and HDF5's own error stack as the cause.
public struct HDF5Error: Error, CustomStringConvertible, Sendable {
    /// What unet-ckpt was doing, e.g. `open dataset "tensors/head/out/weight"`.
    public let operation: String
    /// The file the operation concerned, when known.
    public let file: String?
    /// HDF5's error stack, innermost first, as one line (may be empty).
    public let cause: String

    public init(_ operation: String, file: String? = nil, cause: String = "") {
        self.operation = operation
        self.file = file
        self.cause = cause
    }

    public var description: String {
        var text = "HDF5: cannot \(operation)"
        if let file { text += " in \(file)" }
        if !cause.isEmpty { text += " (\(cause))" }
        return text
    }

    /// Captures and clears the calling thread's HDF5 error stack.
    static func fromStack(_ operation: String, file: String? = nil) -> HDF5Error {
        var buffer = [CChar](repeating: 0, count: 2048)
        let length = buffer.withUnsafeMutableBufferPointer { chdf5_error_stack_text($0.baseAddress, $0.count) }
        chdf5_error_clear()
        let cause = String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return HDF5Error(operation, file: file, cause: cause)
    }
}

/// Process-wide set-up done before any HDF5 call: error printing off (per thread) and plugins off.
enum HDF5Library {
    static func prepare() {
        chdf5_quiet_and_no_plugins()
    }
}

@inline(__always)
func check(_ status: herr_t, _ operation: @autoclosure () -> String, file: String? = nil) throws {
    if status < 0 { throw HDF5Error.fromStack(operation(), file: file) }
}

@inline(__always)
func checkID(_ id: hid_t, _ operation: @autoclosure () -> String, file: String? = nil) throws -> hid_t {
    if id < 0 { throw HDF5Error.fromStack(operation(), file: file) }
    return id
}
