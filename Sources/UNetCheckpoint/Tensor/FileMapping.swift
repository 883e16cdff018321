import Foundation

/// A whole file mapped read-only into memory, its pages loaded up front (`MAP_POPULATE`), so
/// tensors can use the file's bytes where they lie instead of copies. Unmapped when the last
/// tensor using it is gone.
///
/// The mapping shares the file's pages: the file must not be truncated or rewritten in place
/// while tensors use it (reading a page that truncation removed ends the process with SIGBUS).
/// Replacing the file by renaming another over it, as every unet-ckpt write does, is safe.
public final class FileMapping: @unchecked Sendable {
    /// The path that was mapped.
    public let path: String
    /// The file's size in bytes.
    public let size: Int
    let base: UnsafeRawPointer?

    /// Maps `path`; throws ``CheckpointError`` when it cannot be opened or mapped.
    public init(path: String) throws {
        self.path = path
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw CheckpointError(.io, file: path, "cannot open the file: \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else {
            throw CheckpointError(.io, file: path, "not a regular file")
        }
        size = Int(status.st_size)
        guard size > 0 else {
            base = nil
            return
        }
        #if os(Linux)
            let flags = MAP_PRIVATE | MAP_POPULATE
        #else
            let flags = MAP_PRIVATE
        #endif
        let address = mmap(nil, size, PROT_READ, flags, descriptor, 0)
        guard let address, address != MAP_FAILED else {
            throw CheckpointError(.io, file: path, "cannot map the file: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(address)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), size) }
    }

    /// The bytes `offset ..< offset + count`, or nil when they are not all inside the file.
    public func bytes(at offset: Int, count: Int) -> UnsafeRawBufferPointer? {
        guard offset >= 0, count >= 0, offset <= size, count <= size - offset else { return nil }
        return UnsafeRawBufferPointer(start: base.map { $0 + offset }, count: count)
    }
}

/// A tensor's elements lying in a ``FileMapping``: little-endian, in C order, at any alignment.
public struct MappedElements: Sendable, Equatable {
    public let mapping: FileMapping
    public let offset: Int
    public let dtype: DType
    public let count: Int
    /// The CRC-32 of the bytes when the reader already checked it against the source's own
    /// record (a zip entry's), so writers need not compute it again.
    public let checkedCRC32: UInt32?

    /// Elements `offset ..< offset + count × dtype.size` of `mapping`; nil when they are not all
    /// inside the file.
    public init?(mapping: FileMapping, offset: Int, dtype: DType, count: Int, checkedCRC32: UInt32? = nil) {
        guard mapping.bytes(at: offset, count: count * dtype.size) != nil else { return nil }
        self.mapping = mapping
        self.offset = offset
        self.dtype = dtype
        self.count = count
        self.checkedCRC32 = checkedCRC32
    }

    /// The elements' bytes.
    public var bytes: UnsafeRawBufferPointer { mapping.bytes(at: offset, count: count * dtype.size)! }

    /// Equal when the bytes are.
    public static func == (a: MappedElements, b: MappedElements) -> Bool {
        a.dtype == b.dtype && sameBytes(a.bytes, b.bytes)
    }

    /// The elements copied into an array of `T` (alignment-safe).
    func copied<T: BitwiseCopyable>(as type: T.Type) -> [T] {
        HugePages.array(count: count) { UnsafeMutableRawBufferPointer($0).copyMemory(from: bytes) }
    }
}

/// Whether two buffers hold the same bytes.
func sameBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    a.count == b.count && (a.isEmpty || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
}
