import Foundation

/// A NumPy `.npy` array of float32, float64 or float16 values (C order), read into float32 and
/// written as float32. Sizes are checked against the header before anything is allocated.
public struct NumpyArray: Sendable, Equatable {
    public let shape: [Int]
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        precondition(values.count == shape.reduce(1, *), "values do not fit the shape")
        self.shape = shape
        self.values = values
    }

    /// Reads a `.npy` file; errors name the file and what is wrong.
    public init(contentsOf path: String) throws(InferenceError) {
        func fail(_ message: String) -> InferenceError { InferenceError(message: "\(path): \(message)") }
        guard let data = FileManager.default.contents(atPath: path) else { throw fail("cannot read the file") }
        let bytes = [UInt8](data)
        let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
        guard bytes.count >= 10, bytes.starts(with: magic) else { throw fail("not a .npy file") }
        let major = bytes[6]
        let (headerLength, start) =
            major == 1
            ? (Int(bytes[8]) | Int(bytes[9]) << 8, 10)
            : (
                bytes.count >= 12
                    ? Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24 : -1, 12
            )
        guard (1...3).contains(major), headerLength >= 0, start + headerLength <= bytes.count else {
            throw fail("a damaged .npy header")
        }
        let header = String(decoding: bytes[start..<(start + headerLength)], as: UTF8.self)
        func field(_ name: String) -> String? {
            guard let key = header.range(of: "'\(name)':") else { return nil }
            let rest = header[key.upperBound...].drop { $0 == " " }
            if rest.first == "(" { return rest.firstIndex(of: ")").map { String(rest[rest.startIndex...$0]) } }
            return rest.firstIndex(where: { $0 == "," || $0 == "}" }).map { String(rest[..<$0]) }
        }
        guard let descr = field("descr")?.trimmingCharacters(in: CharacterSet(charactersIn: "' ")),
            let fortran = field("fortran_order")?.trimmingCharacters(in: .whitespaces),
            let shapeText = field("shape")
        else { throw fail("the .npy header lacks descr, fortran_order or shape") }
        guard fortran == "False" else {
            throw fail("Fortran-ordered arrays are not supported; save with np.ascontiguousarray")
        }
        let dims = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "() ")).split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var shape: [Int] = []
        for dim in dims {
            guard let value = Int(dim), value >= 0 else { throw fail("a bad shape \(shapeText)") }
            shape.append(value)
        }
        var count = 1
        for dim in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            guard !overflow, product <= 1 << 34 else { throw fail("an array of more than 2^34 values") }
            count = product
        }
        let size: Int
        switch descr {
        case "<f4", "=f4": size = 4
        case "<f8", "=f8": size = 8
        case "<f2", "=f2": size = 2
        default: throw fail("dtype \(descr) is not supported (float32, float64 or float16, little-endian)")
        }
        let body = start + headerLength
        guard bytes.count - body == count * size else {
            throw fail(
                "the data holds \(bytes.count - body) bytes, the shape \(shape) of \(descr) needs \(count * size)")
        }
        self.shape = shape
        values = bytes.withUnsafeBytes { raw in
            let source = raw.baseAddress! + body
            switch size {
            case 4: return (0..<count).map { source.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) }
            case 8: return (0..<count).map { Float(source.loadUnaligned(fromByteOffset: $0 * 8, as: Double.self)) }
            default:
                return (0..<count).map {
                    Float(Float16(bitPattern: source.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self)))
                }
            }
        }
    }

    /// The `.npy` bytes (format 1.0, little-endian float32).
    public func encoded() -> Data {
        let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(dims)), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        data.append(contentsOf: [UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)])
        data.append(contentsOf: Array(header.utf8))
        values.withUnsafeBytes { data.append(contentsOf: $0) }
        return data
    }

    /// The array as an NCHW (or NCDHW, for a 5-D array) feature map; NHWC input is transposed
    /// when `channelsLast`.
    public func featureMap(channelsLast: Bool = false) throws(InferenceError) -> FeatureMap {
        if shape.count == 5 && !channelsLast {
            return FeatureMap(batch: shape[0], channels: shape[1], spatial: Array(shape[2...]), values: values)
        }
        guard shape.count == 4 else {
            throw InferenceError(message: "the array must be 4-D (\(channelsLast ? "NHWC" : "NCHW")), not \(shape)")
        }
        if !channelsLast {
            return FeatureMap(batch: shape[0], channels: shape[1], height: shape[2], width: shape[3], values: values)
        }
        let (n, h, w, c) = (shape[0], shape[1], shape[2], shape[3])
        var map = FeatureMap(batch: n, channels: c, height: h, width: w)
        for b in 0..<n {
            for y in 0..<h {
                for x in 0..<w {
                    for ch in 0..<c {
                        map.values[((b * c + ch) * h + y) * w + x] = values[((b * h + y) * w + x) * c + ch]
                    }
                }
            }
        }
        return map
    }

    /// A feature map as an array, NCHW or NHWC.
    public init(_ map: FeatureMap, channelsLast: Bool = false) {
        guard channelsLast else {
            self.init(shape: map.shape, values: map.values)
            return
        }
        let (n, c, h, w) = (map.batch, map.channels, map.height, map.width)
        var values = [Float](repeating: 0, count: map.values.count)
        for b in 0..<n {
            for ch in 0..<c {
                for y in 0..<h {
                    for x in 0..<w {
                        values[((b * h + y) * w + x) * c + ch] = map.values[((b * c + ch) * h + y) * w + x]
                    }
                }
            }
        }
        self.init(shape: [n, h, w, c], values: values)
    }
}
