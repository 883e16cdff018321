import CHDF5

/// The element types unet-ckpt writes, each stored little-endian.
public enum HDF5ElementType: String, Sendable, CaseIterable {
    case float32, float64, float16, uint16, uint32, int64

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .float16, .uint16: 2
        case .float32, .uint32: 4
        case .float64, .int64: 8
        }
    }

    /// A new datatype id for the file (little-endian, IEEE for floats).
    func makeFileType() throws -> Handle {
        switch self {
        case .float32: return try copy(chdf5_t_ieee_f32le())
        case .float64: return try copy(chdf5_t_ieee_f64le())
        case .uint16: return try copy(chdf5_t_std_u16le())
        case .uint32: return try copy(chdf5_t_std_u32le())
        case .int64: return try copy(chdf5_t_std_i64le())
        case .float16:
            // IEEE binary16 as h5py writes it: sign bit 15, exponent 10-14 (bias 15), mantissa 0-9.
            let type = try copy(chdf5_t_ieee_f32le())
            try check(H5Tset_fields(type.id, 15, 10, 5, 0, 10), "define the float16 type")
            try check(H5Tset_size(type.id, 2), "define the float16 type")
            try check(H5Tset_ebias(type.id, 15), "define the float16 type")
            return type
        }
    }

    private func copy(_ base: hid_t) throws -> Handle {
        Handle.datatype(try checkID(H5Tcopy(base), "copy a datatype"))
    }
}

/// What a stored datatype is, read from the file before any data is trusted.
public struct HDF5TypeDescription: Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Equatable, Sendable { case integer(signed: Bool), float, string, other(Int32) }
    public enum ByteOrder: Equatable, Sendable { case little, big, none }

    public let kind: Kind
    /// Bytes per element.
    public let size: Int
    public let byteOrder: ByteOrder
    /// For floats: sign bit, exponent position and width, mantissa position and width, exponent bias.
    public let floatFields: [Int]?

    /// The element type this is, if it is exactly one unet-ckpt writes.
    public var elementType: HDF5ElementType? {
        guard byteOrder == .little else { return nil }
        switch (kind, size) {
        case (.float, 4) where floatFields == [31, 23, 8, 0, 23, 127]: return .float32
        case (.float, 8) where floatFields == [63, 52, 11, 0, 52, 1023]: return .float64
        case (.float, 2) where floatFields == [15, 10, 5, 0, 10, 15]: return .float16
        case (.integer(signed: false), 2): return .uint16
        case (.integer(signed: false), 4): return .uint32
        case (.integer(signed: true), 8): return .int64
        default: return nil
        }
    }

    public var description: String {
        if let elementType { return elementType.rawValue }
        let order = byteOrder == .big ? " big-endian" : ""
        switch kind {
        case .integer(let signed): return "\(signed ? "" : "u")int\(size * 8)\(order)"
        case .float: return "float\(size * 8)\(order)\(floatFields.map { " fields \($0)" } ?? "")"
        case .string: return "string"
        case .other(let code): return "HDF5 type class \(code)"
        }
    }

    init(typeID: hid_t) {
        size = H5Tget_size(typeID)
        switch H5Tget_order(typeID) {
        case H5T_ORDER_LE: byteOrder = .little
        case H5T_ORDER_BE: byteOrder = .big
        default: byteOrder = .none
        }
        let typeClass = H5Tget_class(typeID)
        switch typeClass {
        case H5T_INTEGER:
            kind = .integer(signed: H5Tget_sign(typeID) != H5T_SGN_NONE)
            floatFields = nil
        case H5T_FLOAT:
            kind = .float
            var spos = 0, epos = 0, esize = 0, mpos = 0, msize = 0
            if H5Tget_fields(typeID, &spos, &epos, &esize, &mpos, &msize) >= 0 {
                floatFields = [spos, epos, esize, mpos, msize, Int(H5Tget_ebias(typeID))]
            } else {
                floatFields = nil
            }
        case H5T_STRING:
            kind = .string
            floatFields = nil
        default:
            kind = .other(typeClass.rawValue)
            floatFields = nil
        }
    }
}
