import Foundation

/// A dense tensor of float32, float16 or bfloat16 values in C (row-major) order.
///
/// 16-bit values are kept as their bit patterns, so reading and writing them is lossless.
/// `==` compares shape, element type and bytes, whatever the storage.
public struct Tensor: Sendable, Equatable {
    /// The element storage: float32 values, 16-bit patterns, or elements lying in a mapped file.
    public enum Storage: Sendable, Equatable {
        case float32([Float])
        case float16([UInt16])
        case bfloat16([UInt16])
        /// Elements read in place from a mapped file (``CheckpointFile/read(verifyChecksums:mapped:)``).
        case mapped(MappedElements)
    }

    /// The extent, outermost first.
    public let shape: [Int]
    public let storage: Storage

    /// Wraps storage; its element count must equal the shape's product.
    public init(shape: [Int], storage: Storage) {
        let count = shape.reduce(1, *)
        switch storage {
        case .float32(let values): precondition(values.count == count, "\(values.count) values for shape \(shape)")
        case .float16(let bits), .bfloat16(let bits):
            precondition(bits.count == count, "\(bits.count) values for shape \(shape)")
        case .mapped(let elements): precondition(elements.count == count, "\(elements.count) values for shape \(shape)")
        }
        self.shape = shape
        self.storage = storage
    }

    /// A float32 tensor.
    public init(shape: [Int], values: [Float]) { self.init(shape: shape, storage: .float32(values)) }

    public var dtype: DType {
        switch storage {
        case .float32: .float32
        case .float16: .float16
        case .bfloat16: .bfloat16
        case .mapped(let elements): elements.dtype
        }
    }

    public static func == (a: Tensor, b: Tensor) -> Bool {
        a.shape == b.shape && a.dtype == b.dtype
            && a.withUnsafeBytes { x in b.withUnsafeBytes { y in sameBytes(x, y) } }
    }

    /// The same tensor with its elements in an array of its own (mapped storage copied out).
    public func materialized() -> Tensor {
        guard case .mapped(let elements) = storage else { return self }
        switch elements.dtype {
        case .float32: return Tensor(shape: shape, storage: .float32(elements.copied(as: Float.self)))
        case .float16: return Tensor(shape: shape, storage: .float16(elements.copied(as: UInt16.self)))
        case .bfloat16: return Tensor(shape: shape, storage: .bfloat16(elements.copied(as: UInt16.self)))
        }
    }

    /// The number of elements.
    public var elementCount: Int { shape.reduce(1, *) }

    /// The size of the stored elements in bytes.
    public var byteCount: Int { elementCount * dtype.size }

    /// The values as float32 (exact for every stored type).
    public func floatValues() -> [Float] {
        switch storage {
        case .float32(let values): return values
        case .float16(let bits): return bits.map(FloatConversion.float32(fromHalf:))
        case .bfloat16(let bits): return bits.map(FloatConversion.float32(fromBFloat16:))
        case .mapped: return materialized().floatValues()
        }
    }

    /// The tensor in another element type, rounding to nearest even when narrowing.
    public func converted(to dtype: DType) -> Tensor {
        if dtype == self.dtype { return self }
        let values = floatValues()
        switch dtype {
        case .float32: return Tensor(shape: shape, values: values)
        case .float16: return Tensor(shape: shape, storage: .float16(values.map(FloatConversion.half(from:))))
        case .bfloat16: return Tensor(shape: shape, storage: .bfloat16(values.map(FloatConversion.bfloat16(from:))))
        }
    }

    /// Calls `body` with the stored elements as little-endian bytes (the host is little-endian).
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch storage {
        case .float32(let values): return try values.withUnsafeBytes(body)
        case .float16(let bits), .bfloat16(let bits): return try bits.withUnsafeBytes(body)
        case .mapped(let elements): return try body(elements.bytes)
        }
    }

    /// The CRC-32 of the stored bytes (docs/format.md §5).
    public var crc32: UInt32 {
        if case .mapped(let elements) = storage, let known = elements.checkedCRC32 { return known }
        return withUnsafeBytes { CRC32.checksum($0) }
    }

    /// Reads a tensor of `dtype` and `shape` by letting `fill` write its bytes exactly once.
    public static func reading(
        dtype: DType, shape: [Int], fill: (UnsafeMutableRawBufferPointer) throws -> Void
    ) rethrows -> Tensor {
        let count = shape.reduce(1, *)
        switch dtype {
        case .float32:
            let values: [Float] = try HugePages.array(count: count) { try fill(UnsafeMutableRawBufferPointer($0)) }
            return Tensor(shape: shape, storage: .float32(values))
        case .float16, .bfloat16:
            let bits: [UInt16] = try HugePages.array(count: count) { try fill(UnsafeMutableRawBufferPointer($0)) }
            return Tensor(shape: shape, storage: dtype == .float16 ? .float16(bits) : .bfloat16(bits))
        }
    }
}

#if _endian(big)
    #error("unet-ckpt assumes a little-endian host: checkpoints are little-endian and are read without swapping")
#endif
