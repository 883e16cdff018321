import CHDF5

/// A group or dataset: something with a path in a file and attributes.
public protocol HDF5Object {
    /// The file's path, for error messages.
    var file: String { get }
    /// The object's path inside the file, e.g. `/tensors/head/out/weight`.
    var path: String { get }
    var objectID: hid_t { get }
}

extension HDF5Object {
    /// The names of the object's attributes, in name order.
    public func attributeNames() throws -> [String] {
        let count = chdf5_attribute_count(objectID)
        if count < 0 { throw HDF5Error.fromStack("list the attributes of \(path)", file: file) }
        return try (0..<count).map { index in
            try readName { buffer, capacity in
                H5Aget_name_by_idx(
                    objectID, ".", H5_INDEX_NAME, H5_ITER_INC, hsize_t(index), buffer, capacity,
                    chdf5_p_default())
            } orThrow: {
                HDF5Error.fromStack("read an attribute name of \(path)", file: file)
            }
        }
    }

    /// Whether the object has an attribute of this name.
    public func hasAttribute(_ name: String) throws -> Bool {
        let result = H5Aexists(objectID, name)
        if result < 0 { throw HDF5Error.fromStack("look up attribute \"\(name)\" of \(path)", file: file) }
        return result > 0
    }

    /// Reads a scalar string attribute, stored variable- or fixed-length, at most `limit` bytes.
    public func stringAttribute(_ name: String, limit: Int = 16 << 20) throws -> String {
        let strings = try stringArrayAttribute(name, limit: limit)
        guard strings.count == 1 else {
            throw HDF5Error(
                "read attribute \"\(name)\" of \(path): it holds \(strings.count) values, not one", file: file)
        }
        return strings[0]
    }

    /// Reads a string attribute holding any number of strings (Keras' `layer_names`), stored
    /// variable- or fixed-length, at most `limit` bytes in all.
    public func stringArrayAttribute(_ name: String, limit: Int = 16 << 20) throws -> [String] {
        let attribute = try openAttribute(name)
        let what = "read attribute \"\(name)\" of \(path)"
        let space = Handle.dataspace(try checkID(H5Aget_space(attribute.id), what, file: file))
        let count = Int(H5Sget_simple_extent_npoints(space.id))
        guard count >= 0, count <= limit else { throw HDF5Error("\(what): \(count) strings", file: file) }
        // An empty list has no strings to type (h5py writes an empty float64 array for one).
        if count == 0 { return [] }
        let fileType = Handle.datatype(try checkID(H5Aget_type(attribute.id), what, file: file))
        guard H5Tget_class(fileType.id) == H5T_STRING else {
            throw HDF5Error("\(what): it has type \(HDF5TypeDescription(typeID: fileType.id))", file: file)
        }
        if H5Tis_variable_str(fileType.id) > 0 {
            let memoryType = Handle.datatype(try checkID(H5Tcopy(chdf5_t_c_s1()), what, file: file))
            try check(H5Tset_size(memoryType.id, chdf5_t_variable()), what, file: file)
            try check(H5Tset_cset(memoryType.id, H5Tget_cset(fileType.id)), what, file: file)
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
            try check(H5Aread(attribute.id, memoryType.id, &pointers), what, file: file)
            defer { for pointer in pointers where pointer != nil { H5free_memory(pointer) } }
            var total = 0
            return try pointers.map { pointer in
                guard let pointer else { return "" }
                let length = strnlen(pointer, limit + 1)
                total += length
                if total > limit { throw HDF5Error("\(what): longer than \(limit) bytes", file: file) }
                return String(decoding: UnsafeRawBufferPointer(start: pointer, count: length), as: UTF8.self)
            }
        }
        let size = H5Tget_size(fileType.id)
        guard size > 0, size.multipliedReportingOverflow(by: count).partialValue <= limit else {
            throw HDF5Error("\(what): longer than \(limit) bytes", file: file)
        }
        var bytes = [UInt8](repeating: 0, count: max(size * count, 1))
        try check(H5Aread(attribute.id, fileType.id, &bytes), what, file: file)
        return (0..<count).map { index in
            let element = bytes[(index * size)..<((index + 1) * size)]
            let end = element.firstIndex(of: 0) ?? element.endIndex
            return String(decoding: element[..<end], as: UTF8.self)
        }
    }

    /// Reads a scalar integer attribute as a 64-bit signed integer.
    public func integerAttribute(_ name: String) throws -> Int64 {
        var value: Int64 = 0
        try readNumericAttribute(name, memoryType: chdf5_t_native_int64(), expecting: H5T_INTEGER, into: &value)
        return value
    }

    /// Reads a scalar integer attribute that must fit an unsigned 32-bit integer.
    public func uint32Attribute(_ name: String) throws -> UInt32 {
        let value = try integerAttribute(name)
        guard let narrow = UInt32(exactly: value) else {
            throw HDF5Error(
                "read attribute \"\(name)\" of \(path): \(value) is not an unsigned 32-bit value",
                file: file)
        }
        return narrow
    }

    /// Reads a scalar floating-point attribute.
    public func doubleAttribute(_ name: String) throws -> Double {
        var value = 0.0
        try readNumericAttribute(name, memoryType: chdf5_t_native_double(), expecting: H5T_FLOAT, into: &value)
        return value
    }

    /// Writes a scalar variable-length UTF-8 string attribute (it must not exist yet).
    public func setAttribute(_ name: String, string value: String) throws {
        let what = "write attribute \"\(name)\" of \(path)"
        let type = Handle.datatype(try checkID(H5Tcopy(chdf5_t_c_s1()), what, file: file))
        try check(H5Tset_size(type.id, chdf5_t_variable()), what, file: file)
        try check(H5Tset_cset(type.id, H5T_CSET_UTF8), what, file: file)
        try value.withCString { text in
            var pointer: UnsafePointer<CChar>? = text
            try writeAttribute(name, fileType: type.id, memoryType: type.id, value: &pointer)
        }
    }

    /// Writes a list of strings as fixed-length, null-padded byte strings (what numpy's `S`
    /// arrays and Keras' `layer_names` are); an empty list gets an empty (null) dataspace.
    public func setAttribute(_ name: String, strings: [String]) throws {
        HDF5Library.prepare()
        let what = "write attribute \"\(name)\" of \(path)"
        let encoded = strings.map { Array($0.utf8) }
        let width = max(1, encoded.map(\.count).max() ?? 1)
        let type = Handle.datatype(try checkID(H5Tcopy(chdf5_t_c_s1()), what, file: file))
        try check(H5Tset_size(type.id, width), what, file: file)
        try check(H5Tset_strpad(type.id, H5T_STR_NULLPAD), what, file: file)
        let space: Handle
        if strings.isEmpty {
            space = Handle.dataspace(try checkID(H5Screate(H5S_NULL), what, file: file))
        } else {
            var dims = [hsize_t(strings.count)]
            space = Handle.dataspace(try checkID(H5Screate_simple(1, &dims, nil), what, file: file))
        }
        var bytes = [UInt8](repeating: 0, count: width * max(1, strings.count))
        for (index, string) in encoded.enumerated() {
            bytes.replaceSubrange((index * width)..<(index * width + string.count), with: string)
        }
        let id = H5Acreate2(objectID, name, type.id, space.id, chdf5_p_default(), chdf5_p_default())
        let attribute = Handle.attribute(try checkID(id, what, file: file))
        if !strings.isEmpty { try check(H5Awrite(attribute.id, type.id, bytes), what, file: file) }
        if attribute.close() < 0 { throw HDF5Error.fromStack(what, file: file) }
    }

    /// Writes a scalar unsigned 32-bit attribute.
    public func setAttribute(_ name: String, uint32 value: UInt32) throws {
        var value = value
        let type = try HDF5ElementType.uint32.makeFileType()
        try writeAttribute(name, fileType: type.id, memoryType: chdf5_t_native_uint32(), value: &value)
    }

    /// Writes a scalar signed 64-bit attribute.
    public func setAttribute(_ name: String, int64 value: Int64) throws {
        var value = value
        let type = try HDF5ElementType.int64.makeFileType()
        try writeAttribute(name, fileType: type.id, memoryType: chdf5_t_native_int64(), value: &value)
    }

    /// Writes a scalar 64-bit float attribute.
    public func setAttribute(_ name: String, double value: Double) throws {
        var value = value
        let type = try HDF5ElementType.float64.makeFileType()
        try writeAttribute(name, fileType: type.id, memoryType: chdf5_t_native_double(), value: &value)
    }

    // MARK: - Private

    private func openAttribute(_ name: String) throws -> Handle {
        HDF5Library.prepare()
        let id = H5Aopen(objectID, name, chdf5_p_default())
        return Handle.attribute(try checkID(id, "open attribute \"\(name)\" of \(path)", file: file))
    }

    /// Opens an attribute that must hold one value of the given type class; returns it, its
    /// stored type and the text that names the read in errors.
    private func openScalarAttribute(_ name: String, of typeClass: H5T_class_t) throws -> (Handle, Handle, String) {
        let attribute = try openAttribute(name)
        let what = "read attribute \"\(name)\" of \(path)"
        let fileType = Handle.datatype(try checkID(H5Aget_type(attribute.id), what, file: file))
        guard H5Tget_class(fileType.id) == typeClass else {
            throw HDF5Error("\(what): it has type \(HDF5TypeDescription(typeID: fileType.id))", file: file)
        }
        let space = Handle.dataspace(try checkID(H5Aget_space(attribute.id), what, file: file))
        let count = H5Sget_simple_extent_npoints(space.id)
        guard count == 1 else { throw HDF5Error("\(what): it holds \(count) values, not one", file: file) }
        return (attribute, fileType, what)
    }

    private func readNumericAttribute<T: BitwiseCopyable>(
        _ name: String, memoryType: hid_t, expecting typeClass: H5T_class_t, into value: inout T
    ) throws {
        let (attribute, _, what) = try openScalarAttribute(name, of: typeClass)
        try check(H5Aread(attribute.id, memoryType, &value), what, file: file)
    }

    private func writeAttribute<T: BitwiseCopyable>(_ name: String, fileType: hid_t, memoryType: hid_t, value: inout T)
        throws
    {
        HDF5Library.prepare()
        let what = "write attribute \"\(name)\" of \(path)"
        let space = Handle.dataspace(try checkID(H5Screate(H5S_SCALAR), what, file: file))
        let id = H5Acreate2(objectID, name, fileType, space.id, chdf5_p_default(), chdf5_p_default())
        let attribute = Handle.attribute(try checkID(id, what, file: file))
        try check(H5Awrite(attribute.id, memoryType, &value), what, file: file)
        if attribute.close() < 0 { throw HDF5Error.fromStack(what, file: file) }
    }
}

/// Calls an HDF5 "get name" function twice: once for the length, once for the text.
func readName(
    _ call: (UnsafeMutablePointer<CChar>?, Int) -> Int, orThrow error: () -> HDF5Error
) throws -> String {
    let length = call(nil, 0)
    guard length >= 0 else { throw error() }
    var buffer = [CChar](repeating: 0, count: length + 1)
    guard buffer.withUnsafeMutableBufferPointer({ call($0.baseAddress, $0.count) }) >= 0 else { throw error() }
    return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
