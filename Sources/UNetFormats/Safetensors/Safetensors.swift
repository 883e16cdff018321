import Foundation
import UNetCheckpoint

/// safetensors files: an 8-byte little-endian header length, a JSON header, then the data.
///
/// The reader checks what the reference implementation checks (header length cap, valid JSON,
/// ranges sorted, contiguous from 0 and non-overlapping, element count × size equal to the range,
/// no bytes after the data) and closes its known gaps: entry counts are bounded and every size is
/// computed with overflow checks before anything is allocated.
enum Safetensors {
    static let maximumHeaderLength = 100_000_000
    static let maximumEntries = 100_000

    /// A header entry.
    struct Entry {
        let name: String
        let dtype: String
        let shape: [Int]
        let begin: Int
        let end: Int
    }

    /// Element sizes of the dtypes the format defines.
    static let elementSizes: [String: Int] = [
        "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4,
        "U16": 2, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1,
    ]

    static func read(_ path: String) throws(FormatError) -> SourceTensors {
        let file = try InputFile(path: path)
        let (entries, metadata, dataStart) = try parseHeader(file)
        var result = SourceTensors()
        for (key, value) in metadata { result.extras[key] = Self.metadataValue(value) }
        for entry in entries.sorted(by: { $0.begin < $1.begin || ($0.begin == $1.begin && $0.name < $1.name) }) {
            let bytes = try file.read(at: dataStart + entry.begin, count: entry.end - entry.begin)
            switch entry.dtype {
            case "F32":
                result.tensors.append(
                    (entry.name, Tensor(shape: entry.shape, values: bytes.reinterpreted(as: Float.self))))
            case "F16":
                result.tensors.append(
                    (entry.name, Tensor(shape: entry.shape, storage: .float16(bytes.reinterpreted(as: UInt16.self)))))
            case "BF16":
                result.tensors.append(
                    (entry.name, Tensor(shape: entry.shape, storage: .bfloat16(bytes.reinterpreted(as: UInt16.self)))))
            case "I64" where entry.shape.isEmpty:
                result.integers.append((entry.name, bytes.reinterpreted(as: Int64.self)[0]))
            default:
                result.skipped.append("\(entry.name): a \(entry.dtype) tensor is not a float32/float16/bfloat16 weight")
            }
        }
        // The file's order is the header's order of names; keep the canonical sort of data offsets.
        return result
    }

    /// Parses and validates the header; returns the entries, `__metadata__` and where data starts.
    static func parseHeader(_ file: InputFile) throws(FormatError) -> ([Entry], [String: String], Int) {
        func malformed(_ message: String) -> FormatError {
            FormatError(.malformed, file: file.path, "not a valid safetensors file: \(message)")
        }
        guard file.size >= 8 else { throw malformed("shorter than its 8-byte header length") }
        let lengthBytes = try file.read(at: 0, count: 8)
        let length = lengthBytes.reversed().reduce(UInt64(0)) { ($0 << 8) | UInt64($1) }
        guard length <= UInt64(maximumHeaderLength) else {
            throw malformed("a header of \(length) bytes (the limit is 100 MB)")
        }
        guard Int(length) <= file.size - 8 else { throw malformed("the header runs past the end of the file") }
        let headerBytes = try file.read(at: 8, count: Int(length))
        guard let object = try? JSONDecoder().decode([String: JSONValue].self, from: Data(headerBytes)) else {
            throw malformed("the header is not a JSON object")
        }
        guard object.count <= maximumEntries + 1 else { throw malformed("more than \(maximumEntries) tensors") }
        var metadata: [String: String] = [:]
        var entries: [Entry] = []
        for (name, value) in object {
            if name == "__metadata__" {
                guard case .object(let fields) = value else { throw malformed("__metadata__ is not an object") }
                for (key, field) in fields {
                    guard case .string(let text) = field else { throw malformed("__metadata__.\(key) is not a string") }
                    metadata[key] = text
                }
                continue
            }
            guard case .object(let fields) = value, case .string(let dtype) = fields["dtype"],
                case .array(let shapeValues) = fields["shape"], case .array(let offsets) = fields["data_offsets"],
                offsets.count == 2
            else { throw malformed("tensor \"\(name.prefix(100))\" lacks dtype, shape or data_offsets") }
            guard let size = elementSizes[dtype] else {
                throw malformed("tensor \(name) has unknown dtype \"\(dtype.prefix(20))\"")
            }
            let shape = try shapeValues.map { value throws(FormatError) -> Int in
                guard case .number(let n) = value, n >= 0, n.rounded() == n, n < 1e15 else {
                    throw malformed("tensor \(name) has a bad shape")
                }
                return Int(n)
            }
            let bounds = try offsets.map { value throws(FormatError) -> Int in
                guard case .number(let n) = value, n >= 0, n.rounded() == n, n < 1e15 else {
                    throw malformed("tensor \(name) has bad data_offsets")
                }
                return Int(n)
            }
            var count = size
            for dim in shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: dim)
                guard !overflow, product < 1 << 50 else { throw malformed("tensor \(name) is impossibly large") }
                count = product
            }
            guard bounds[1] >= bounds[0], bounds[1] - bounds[0] == count else {
                throw malformed(
                    "tensor \(name): shape \(shape) of \(dtype) needs \(count) bytes, its range holds \(bounds[1] - bounds[0])"
                )
            }
            entries.append(Entry(name: name, dtype: dtype, shape: shape, begin: bounds[0], end: bounds[1]))
        }
        let sorted = entries.sorted { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var expected = 0
        for entry in sorted {
            guard entry.begin == expected else {
                throw malformed(
                    entry.begin < expected
                        ? "tensor \(entry.name) overlaps another" : "a gap before tensor \(entry.name)")
            }
            expected = entry.end
        }
        let dataStart = 8 + Int(length)
        if let beyond = sorted.first(where: { dataStart + $0.end > file.size }) {
            throw malformed("tensor \(beyond.name) runs past the end of the file (truncated?)")
        }
        guard dataStart + expected == file.size else {
            throw malformed("\(file.size - dataStart - expected) bytes follow the last tensor")
        }
        return (entries, metadata, dataStart)
    }

    /// A metadata string that holds JSON (as `mask_values` does) is kept as that JSON.
    static func metadataValue(_ text: String) -> JSONValue {
        if let data = text.data(using: .utf8), let value = try? JSONDecoder().decode(JSONValue.self, from: data),
            case .array = value
        {
            return value
        }
        return .string(text)
    }

    /// Writes tensors and integer scalars (in the given order) and string metadata.
    static func write(
        _ entries: [(key: String, value: PyTorchWriter.Value)], metadata: [String: String], to path: String
    )
        throws
    {
        struct Item { let key: String; let dtype: String; let shape: [Int]; let bytes: Data }
        let items = entries.compactMap { entry -> Item? in
            switch entry.value {
            case .tensor(let tensor):
                let dtype = ["float32": "F32", "float16": "F16", "bfloat16": "BF16"][tensor.dtype.rawValue]!
                return Item(
                    key: entry.key, dtype: dtype, shape: tensor.shape, bytes: tensor.withUnsafeBytes { Data($0) })
            case .int64Scalar(let value):
                return Item(
                    key: entry.key, dtype: "I64", shape: [], bytes: withUnsafeBytes(of: value.littleEndian) { Data($0) }
                )
            case .json, .dict:
                return nil
            }
        }
        var header = "{"
        if !metadata.isEmpty {
            header += "\"__metadata__\":" + (try CanonicalJSON.string(metadata))
        }
        var offset = 0
        for item in items {
            if header.count > 1 { header += "," }
            header +=
                try CanonicalJSON.string(item.key) + ":{\"dtype\":\"\(item.dtype)\",\"shape\":["
                + item.shape.map(String.init).joined(separator: ",")
                + "],\"data_offsets\":[\(offset),\(offset + item.bytes.count)]}"
            offset += item.bytes.count
        }
        header += "}"
        var headerBytes = Data(header.utf8)
        while (8 + headerBytes.count) % 8 != 0 { headerBytes.append(0x20) }
        try OutputFile.write(to: path) { output in
            var length = UInt64(headerBytes.count).littleEndian
            try output.append(Data(bytes: &length, count: 8))
            try output.append(headerBytes)
            for item in items { try output.append(item.bytes) }
        }
    }
}

extension Array where Element == UInt8 {
    /// The bytes reinterpreted as little-endian values of `T` (the host is little-endian).
    func reinterpreted<T: BitwiseCopyable>(as type: T.Type) -> [T] {
        let count = self.count / MemoryLayout<T>.stride
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            self.withUnsafeBytes { source in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(
                    from: UnsafeRawBufferPointer(rebasing: source[..<(count * MemoryLayout<T>.stride)]))
            }
            initialized = count
        }
    }
}
