import CNIfTI
import CUNetImageIO
import Foundation
import UNetCheckpoint
import UNetInference

/// The fields of a NIfTI-1 or NIfTI-2 header as libnifti2 reads them (byte-swapped, the qform's
/// matrix computed from its quaternion), and what outputs written like it keep.
public struct NIfTIHeader: Sendable, Equatable {
    public enum Version: Int, Sendable {
        case nifti1 = 1
        case nifti2 = 2
    }

    public var version: Version
    /// The NIfTI datatype code (`NIFTI_TYPE_INT16` = 4, …).
    public var datatype: Int
    /// `dim[0]` (the number of dimensions) and `dim[1...7]`.
    public var dim: [Int]
    /// `pixdim[1...7]` are the spacings; `pixdim[0]` is `qfac` when there is a qform, else 0.
    public var pixdim: [Double]
    /// `scl_slope` and `scl_inter`; both 0 when the file stores no scaling (a slope of 0 or NaN).
    public var sclSlope: Double
    public var sclInter: Double
    public var calMin: Double
    public var calMax: Double
    public var qformCode: Int
    public var sformCode: Int
    /// `quatern_b`, `quatern_c`, `quatern_d`.
    public var quaternion: [Double]
    /// `qoffset_x`, `qoffset_y`, `qoffset_z`.
    public var qoffset: [Double]
    public var qfac: Double
    /// The qform's 4 × 4 matrix (rows), from the quaternion, offsets and spacings; the spacings
    /// alone when `qformCode` is 0.
    public var qform: [[Double]]
    /// The sform's 4 × 4 matrix (`srow_x`, `srow_y`, `srow_z`, `0 0 0 1`); zero when `sformCode` is 0.
    public var sform: [[Double]]
    /// `NIFTI_UNITS_*` codes of `xyzt_units`.
    public var spatialUnits: Int
    public var timeUnits: Int
    /// `dim_info`: the frequency, phase and slice dimensions (1…3, or 0).
    public var frequencyDim: Int
    public var phaseDim: Int
    public var sliceDim: Int
    public var sliceCode: Int
    public var sliceStart: Int
    public var sliceEnd: Int
    public var sliceDuration: Double
    public var toffset: Double
    public var intentCode: Int
    public var descrip: String

    /// The voxel-to-world affine as nibabel's `img.affine`: the sform when its code is set, else
    /// the qform when its code is set, else nil.
    public var affine: [[Double]]? {
        if sformCode > 0 { return sform }
        if qformCode > 0 { return qform }
        return nil
    }

    /// A header with no orientation (qform and sform codes 0), unit spacings and no units: what a
    /// NIfTI output gets when its input was not NIfTI.
    public static let plain: NIfTIHeader = {
        var h = unet_nifti_header()
        h.version = 1
        h.dim = (3, 1, 1, 1, 1, 1, 1, 1)
        h.pixdim = (0, 1, 1, 1, 1, 1, 1, 1)
        h.qto_xyz = (1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1)
        return NIfTIHeader(h)
    }()

    init(_ h: unet_nifti_header) {
        func array<T>(_ tuple: T, _ count: Int) -> [Double] {
            withUnsafeBytes(of: tuple) { Array($0.bindMemory(to: Double.self).prefix(count)) }
        }
        func matrix<T>(_ tuple: T) -> [[Double]] {
            let flat = array(tuple, 16)
            return (0..<4).map { Array(flat[($0 * 4)..<($0 * 4 + 4)]) }
        }
        version = h.version == 2 ? .nifti2 : .nifti1
        datatype = Int(h.datatype)
        dim = withUnsafeBytes(of: h.dim) { $0.bindMemory(to: Int64.self).map { Int($0) } }
        pixdim = array(h.pixdim, 8)
        (sclSlope, sclInter, calMin, calMax) = (h.scl_slope, h.scl_inter, h.cal_min, h.cal_max)
        if sclSlope == 0 || !sclSlope.isFinite { (sclSlope, sclInter) = (0, 0) }  // NaN would make headers unequal
        (qformCode, sformCode) = (Int(h.qform_code), Int(h.sform_code))
        quaternion = [h.quatern_b, h.quatern_c, h.quatern_d]
        qoffset = [h.qoffset_x, h.qoffset_y, h.qoffset_z]
        qfac = h.qfac
        qform = matrix(h.qto_xyz)
        sform = matrix(h.sto_xyz)
        (spatialUnits, timeUnits) = (Int(h.xyz_units), Int(h.time_units))
        (frequencyDim, phaseDim, sliceDim) = (Int(h.freq_dim), Int(h.phase_dim), Int(h.slice_dim))
        (sliceCode, sliceStart, sliceEnd) = (Int(h.slice_code), Int(h.slice_start), Int(h.slice_end))
        (sliceDuration, toffset, intentCode) = (h.slice_duration, h.toffset, Int(h.intent_code))
        descrip = withUnsafeBytes(of: h.descrip) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// The C header to write: these fields, with the given dimensions and datatype.
    func written(dim newDim: [Int], datatype newType: Int32, calibration: (Double, Double), descrip text: String)
        -> unet_nifti_header
    {
        var h = unet_nifti_header()
        func store<T>(_ values: [Double], into tuple: inout T) {
            withUnsafeMutableBytes(of: &tuple) { raw in
                for (i, value) in values.enumerated() {
                    raw.storeBytes(of: value, toByteOffset: i * 8, as: Double.self)
                }
            }
        }
        h.version = Int32(version.rawValue)
        h.datatype = newType
        withUnsafeMutableBytes(of: &h.dim) { raw in
            for (i, value) in newDim.enumerated() {
                raw.storeBytes(of: Int64(value), toByteOffset: i * 8, as: Int64.self)
            }
        }
        // the spatial spacings and qfac as read; the channel axis (and any other) spacing 1
        store(Array(pixdim[0...3]) + [1, 1, 1, 1], into: &h.pixdim)
        (h.scl_slope, h.scl_inter) = (1, 0)
        (h.cal_min, h.cal_max) = calibration
        (h.qform_code, h.sform_code) = (Int32(qformCode), Int32(sformCode))
        (h.quatern_b, h.quatern_c, h.quatern_d) = (quaternion[0], quaternion[1], quaternion[2])
        (h.qoffset_x, h.qoffset_y, h.qoffset_z) = (qoffset[0], qoffset[1], qoffset[2])
        h.qfac = qfac
        store(qform.flatMap { $0 }, into: &h.qto_xyz)
        store(sform.flatMap { $0 }, into: &h.sto_xyz)
        (h.xyz_units, h.time_units) = (Int32(spatialUnits), Int32(timeUnits))
        (h.freq_dim, h.phase_dim, h.slice_dim) = (Int32(frequencyDim), Int32(phaseDim), Int32(sliceDim))
        (h.slice_code, h.slice_start, h.slice_end) = (Int32(sliceCode), Int64(sliceStart), Int64(sliceEnd))
        (h.slice_duration, h.toffset) = (sliceDuration, toffset)
        withUnsafeMutableBytes(of: &h.descrip) { raw in
            for (i, byte) in text.utf8.prefix(79).enumerated() { raw[i] = byte }
        }
        return h
    }
}

/// NIfTI-1 and NIfTI-2 files (`.nii`, `.nii.gz`) through libnifti2 (Debian's `libnifti2-dev`),
/// which never prints or exits here (CUNetImageIO captures its messages).
///
/// Read: 3-D volumes, and 4-D ones whose fourth dimension is channels; uint8, int8, int16,
/// uint16, int32, uint32, float32 and float64 voxels, scaled by `scl_slope` and `scl_inter`
/// when the slope is neither 0 nor NaN (as nibabel does). Written: masks (uint8, or int16 above
/// 256 classes) and float32 probabilities (`x, y, z, class`), with the input's geometry.
public enum NIfTIFile {
    static let supported =
        "volumes read NIfTI-1 and NIfTI-2 .nii and .nii.gz files of 3 dimensions (or 4, "
        + "the fourth being channels) with uint8, int8, int16, uint16, int32, uint32, float32 or float64 voxels"
    /// Voxels read at a time: the memory a header that lies about its data can claim beyond the data there is.
    static let chunkBytes = 8 << 20

    /// Reads a `.nii` or `.nii.gz` file (the name decides whether it is gzip-compressed) with its
    /// spatial axes in `order`.
    public static func read(_ path: String, order: VolumeAxisOrder) throws(ImageError) -> Volume {
        let lower = path.lowercased()
        guard lower.hasSuffix(".nii") || lower.hasSuffix(".nii.gz") else {
            throw ImageError(.unsupported, file: path, "a NIfTI file must be named .nii or .nii.gz")
        }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw ImageError(.malformed, file: path, "cannot open the file")
        }
        var message = [CChar](repeating: 0, count: Int(UNET_MESSAGE_CAPACITY))
        var h = unet_nifti_header()
        guard let reader = unet_nifti_open(path, &h, &message) else {
            throw ImageError(.malformed, file: path, text(message, path: path))
        }
        defer { unet_nifti_close(reader) }
        let header = NIfTIHeader(h)
        func unsupported(_ what: String) -> ImageError {
            ImageError(.unsupported, file: path, "unsupported: \(what); \(supported)")
        }
        let type: VolumeSampleType
        switch Int32(header.datatype) {
        case NIFTI_TYPE_UINT8: type = .uint8
        case NIFTI_TYPE_INT8: type = .int8
        case NIFTI_TYPE_INT16: type = .int16
        case NIFTI_TYPE_UINT16: type = .uint16
        case NIFTI_TYPE_INT32: type = .int32
        case NIFTI_TYPE_UINT32: type = .uint32
        case NIFTI_TYPE_FLOAT32: type = .float32
        case NIFTI_TYPE_FLOAT64: type = .float64
        default:
            let name = String(cString: unet_nifti_datatype_name(Int32(header.datatype)))
            throw unsupported("datatype \(name) (code \(header.datatype))")
        }
        let rank = header.dim[0]
        let sides = Array(header.dim[1...max(1, min(rank, 7))])
        if rank > 4, let extra = (5...rank).first(where: { header.dim[$0] > 1 }) {
            throw unsupported(
                "a \(rank)-D image (dim \(sides.map(String.init).joined(separator: "×")), dimension \(extra) is "
                    + "\(header.dim[extra]))")
        }
        let fileSpatial = [header.dim[3], header.dim[2], header.dim[1]].map { max($0, 1) }
        let channels = rank >= 4 ? max(header.dim[4], 1) : 1
        if let problem = Volume.sizeProblem(channels: channels, spatial: fileSpatial) {
            throw ImageError(.unsupported, file: path, problem)
        }
        let count = channels * fileSpatial.reduce(1, *)
        let voxelBytes = Int(h.bytes_per_voxel)
        let dataBytes = count * voxelBytes
        if h.file_size >= 0 && h.data_offset + Int64(dataBytes) > h.file_size {
            throw ImageError(
                .malformed, file: path,
                "the header describes \(dataBytes) bytes of voxels at offset \(h.data_offset), the file holds "
                    + "\(max(0, h.file_size - h.data_offset)) (truncated, or a header that does not fit the data)")
        }
        let slope = header.sclSlope, inter = header.sclInter
        let scaled = slope != 0 && slope.isFinite
        if scaled && !inter.isFinite {
            throw ImageError(.malformed, file: path, "scl_slope is \(slope) but scl_inter is \(inter)")
        }
        var values: [Float] = []
        values.reserveCapacity(h.file_size >= 0 ? count : min(count, chunkBytes / voxelBytes))
        var chunk = [UInt8](repeating: 0, count: min(dataBytes, chunkBytes / voxelBytes * voxelBytes))
        var done = 0
        while done < dataBytes {
            let want = min(chunk.count, dataBytes - done)
            let got = chunk.withUnsafeMutableBytes { unet_nifti_read(reader, $0.baseAddress, want, &message) }
            guard got >= 0 else {
                throw ImageError(
                    .malformed, file: path,
                    text(message, path: path) + ", within the \(dataBytes) bytes of voxels the header describes")
            }
            guard got == want else {
                throw ImageError(
                    .malformed, file: path,
                    "the file ends early (truncated): \(done + Int(got)) of the \(dataBytes) bytes of voxels the "
                        + "header describes")
            }
            chunk.withUnsafeBytes { raw in
                let n = want / voxelBytes
                func append<T: BinaryInteger>(_: T.Type) {
                    for i in 0..<n {
                        let x = Double(raw.loadUnaligned(fromByteOffset: i * voxelBytes, as: T.self))
                        values.append(Float(scaled ? x * slope + inter : x))
                    }
                }
                switch type {
                case .uint8: append(UInt8.self)
                case .int8: append(Int8.self)
                case .int16: append(Int16.self)
                case .uint16: append(UInt16.self)
                case .int32: append(Int32.self)
                case .uint32: append(UInt32.self)
                case .float32:
                    for i in 0..<n {
                        let x = raw.loadUnaligned(fromByteOffset: i * 4, as: Float.self)
                        values.append(scaled ? Float(Double(x) * slope + inter) : x)
                    }
                case .float64:
                    for i in 0..<n {
                        let x = raw.loadUnaligned(fromByteOffset: i * 8, as: Double.self)
                        values.append(Float(scaled ? x * slope + inter : x))
                    }
                }
            }
            done += want
        }
        if order == .ijk { values = VolumeAxes.reversed(values, channels: channels, spatial: fileSpatial) }
        return Volume(
            channels: channels, sampleType: type, values: values,
            geometry: VolumeGeometry(
                file: path, source: .nifti(header), order: order,
                spatial: order == .zyx ? fileSpatial : fileSpatial.reversed()))
    }

    /// Writes a mask (one class index per voxel, `mask.pages × mask.height × mask.width` equal to
    /// the geometry's spatial sizes, in its order) as a 3-D NIfTI of uint8, or int16 above 256
    /// classes, with the geometry's header fields (`.plain` ones for a volume that was not NIfTI);
    /// atomically, gzip-compressed when the name ends in `.gz`.
    public static func writeMask(_ mask: ClassMask, like geometry: VolumeGeometry, to path: String)
        throws(ImageError)
    {
        precondition([mask.pages, mask.height, mask.width] == geometry.spatial, "the mask does not fit the volume")
        guard mask.classCount <= 32_768 else {
            throw ImageError(.writeFailed, file: path, "\(mask.classCount) classes do not fit a NIfTI int16 mask")
        }
        var labels = mask.values
        if geometry.order == .ijk { labels = VolumeAxes.reversed(labels, channels: 1, spatial: geometry.spatial) }
        let small = mask.classCount <= 256
        let bytes: [UInt8] =
            small
            ? labels.map { UInt8(truncatingIfNeeded: $0) }
            : labels.withUnsafeBytes { Array($0) }  // UInt16 values below 2^15 are their Int16 bytes
        let s = geometry.fileSpatial
        try write(
            bytes, dim: [3, s[2], s[1], s[0], 1, 1, 1, 1],
            datatype: small ? NIFTI_TYPE_UINT8 : NIFTI_TYPE_INT16, calibration: (0, Double(mask.classCount - 1)),
            descrip: "unet-ckpt mask, \(mask.classCount) classes", like: geometry, to: path)
    }

    /// Writes probabilities (`[1, classes] + the geometry's spatial sizes`, in its order) as a
    /// 4-D float32 NIfTI of `x, y, z, class` (the channel-last layout MONAI's `SaveImage` and
    /// nibabel write), with the geometry's header fields; atomically, gzip-compressed when the
    /// name ends in `.gz`.
    public static func writeProbabilities(_ probabilities: FeatureMap, like geometry: VolumeGeometry, to path: String)
        throws(ImageError)
    {
        precondition(
            probabilities.batch == 1 && probabilities.spatial == geometry.spatial,
            "the probabilities do not fit the volume")
        var values = probabilities.values
        if geometry.order == .ijk {
            values = VolumeAxes.reversed(values, channels: probabilities.channels, spatial: geometry.spatial)
        }
        let s = geometry.fileSpatial
        try write(
            values.withUnsafeBytes { Array($0) }, dim: [4, s[2], s[1], s[0], probabilities.channels, 1, 1, 1],
            datatype: NIFTI_TYPE_FLOAT32, calibration: (0, 1),
            descrip: "unet-ckpt probabilities, \(probabilities.channels) classes", like: geometry, to: path)
    }

    private static func write(
        _ bytes: [UInt8], dim: [Int], datatype: Int32, calibration: (Double, Double), descrip: String,
        like geometry: VolumeGeometry, to path: String
    ) throws(ImageError) {
        var header: NIfTIHeader
        if case .nifti(let input) = geometry.source {
            header = input
        } else {
            header = .plain
            if dim.contains(where: { $0 > Int(Int16.max) }) { header.version = .nifti2 }  // beyond NIfTI-1's sizes
        }
        var h = header.written(dim: dim, datatype: datatype, calibration: calibration, descrip: descrip)
        // The temporary file's name does not end in .gz: the final name decides.
        let compressed = path.lowercased().hasSuffix(".gz")
        try VolumeFile.guarded(path, source: geometry.file) {
            try AtomicWrite.replace(path) { temporary in
                var message = [CChar](repeating: 0, count: Int(UNET_MESSAGE_CAPACITY))
                let status = bytes.withUnsafeBytes {
                    unet_nifti_write(temporary, compressed ? 1 : 0, &h, $0.baseAddress, $0.count, &message)
                }
                guard status == 0 else { throw ImageError(.writeFailed, file: path, text(message, path: temporary)) }
            }
        }
    }

    /// The C side's message, without the path and function name libnifti's own lines carry.
    static func text(_ message: [CChar], path: String) -> String {
        var text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        for quoted in [" for file '\(path)'", " for N2 file '\(path)'", " '\(path)'"] {
            text = text.replacingOccurrences(of: quoted, with: "")
        }
        if let open = text.range(of: "(libnifti: ("), let close = text[open.upperBound...].range(of: "): ") {
            text.removeSubrange(text.index(before: open.upperBound)..<close.upperBound)  // "(nifti_read_header): "
        }
        return text.isEmpty ? "libnifti gave no reason" : text
    }
}
