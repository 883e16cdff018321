import Foundation
import TestSupport
import Testing
import UNetCheckpoint
import UNetImages
import UNetInference

/// `fixtures/volumes/index.json` (fixtures/generate_volumes.py): NIfTI files written by nibabel,
/// TIFF stacks written by tifffile, what those libraries read, and files that must be refused.
struct VolumeIndex: Decodable, Sendable {
    struct NIfTI: Decodable, Sendable, CustomStringConvertible {
        let file: String
        let version: Int
        let dtype: String
        let datatypeCode: Int
        /// nibabel's `img.shape`: `[x, y, z]` or `[x, y, z, c]`.
        let shape: [Int]
        let channels: Int
        /// The sidecars: `[C, x, y, z]` and `[C, z, y, x]`, float64.
        let ijk: String
        let zyx: String
        let affine: [[Double]]
        let qform: [[Double]]
        let qformCode: Int
        let sform: [[Double]]
        let sformCode: Int
        let quatern: [Double]
        let qoffset: [Double]
        let pixdim: [Double]
        let dim: [Int]
        let spatialUnits: Int
        let timeUnits: Int
        let dimInfo: [Int]
        let sliceCode: Int
        let sliceStart: Int
        let sliceEnd: Int
        let sliceDuration: Double
        let toffset: Double
        let sclSlope: Double
        let sclInter: Double
        var description: String { file }
    }

    struct TIFF: Decodable, Sendable, CustomStringConvertible {
        let file: String
        let pages: Int
        let channels: Int
        let height: Int
        let width: Int
        let dtype: String
        let planarSeparate: Bool
        /// `[C, pages, rows, columns]` and its spatial transpose, float64.
        let zyx: String
        let ijk: String
        var description: String { file }
    }

    struct Refused: Decodable, Sendable, CustomStringConvertible {
        let file: String
        let mustMention: String
        let why: String
        var description: String { file }
    }

    let nifti: [NIfTI]
    let tiff: [TIFF]
    let errors: [Refused]

    static let committed: VolumeIndex = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let url = URL(fileURLWithPath: Fixtures.path("volumes/index.json"))
        return (try? decoder.decode(VolumeIndex.self, from: Data(contentsOf: url)))
            ?? VolumeIndex(nifti: [], tiff: [], errors: [])
    }()
}

/// Values equal, NaN where NaN (the sidecars are float64, read as float32 like our values); a
/// Bool, so that a failure does not print every value.
func sameValues(_ ours: [Float], _ theirs: [Float]) -> Bool {
    ours.count == theirs.count && zip(ours, theirs).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }
}

func matricesClose(_ a: [[Double]], _ b: [[Double]], tolerance: Double) -> Bool {
    a.count == b.count
        && zip(a, b).allSatisfy { r, s in r.count == s.count && zip(r, s).allSatisfy { abs($0 - $1) <= tolerance } }
}

/// A label per voxel that depends on the file's own indices `(i, j, k)`, laid out in `order`,
/// so that a reader of the written file can recompute it (fixtures/check_volumes.py does).
func labelPattern(_ geometry: VolumeGeometry, classes: Int) -> [UInt16] {
    let s = geometry.spatial
    var labels: [UInt16] = []
    labels.reserveCapacity(s.reduce(1, *))
    for a in 0..<s[0] {
        for b in 0..<s[1] {
            for c in 0..<s[2] {
                let (i, j, k) = geometry.order == .zyx ? (c, b, a) : (a, b, c)
                labels.append(UInt16((i + 2 * j + 3 * k) % classes))
            }
        }
    }
    return labels
}

/// Probabilities `((i + 2j + 3k + c) mod 7) / 7` in `order`.
func probabilityPattern(_ geometry: VolumeGeometry, classes: Int) -> FeatureMap {
    let s = geometry.spatial
    var values: [Float] = []
    for channel in 0..<classes {
        for a in 0..<s[0] {
            for b in 0..<s[1] {
                for c in 0..<s[2] {
                    let (i, j, k) = geometry.order == .zyx ? (c, b, a) : (a, b, c)
                    values.append(Float((i + 2 * j + 3 * k + channel) % 7) / 7)
                }
            }
        }
    }
    return FeatureMap(batch: 1, channels: classes, spatial: s, values: values)
}

@Suite("Volumes: NIfTI read by libnifti against nibabel")
struct NIfTIReadingTests {
    static let index = VolumeIndex.committed

    @Test("the index lists the NIfTI files, the TIFF stacks and the refused files")
    func indexPresent() {
        #expect(Self.index.nifti.count >= 11)
        #expect(Self.index.tiff.count >= 6)
        #expect(Self.index.errors.count >= 9)
    }

    @Test(
        "every NIfTI file reads to nibabel's scaled voxels, in both axis orders",
        arguments: index.nifti, VolumeAxisOrder.allCases)
    func values(_ entry: VolumeIndex.NIfTI, _ order: VolumeAxisOrder) throws {
        let volume = try VolumeFile.read(Fixtures.path(entry.file), order: order)
        let (x, y, z) = (entry.shape[0], entry.shape[1], entry.shape[2])
        #expect(volume.spatial == (order == .zyx ? [z, y, x] : [x, y, z]))
        #expect(volume.channels == entry.channels)
        #expect(volume.sampleType.rawValue == entry.dtype)
        let expected = try NumpyArray(contentsOf: Fixtures.path(order == .zyx ? entry.zyx : entry.ijk))
        #expect(expected.shape == [volume.channels] + volume.spatial)
        // The scaling is `x · slope + inter` in double precision, as nibabel computes it, rounded once.
        #expect(sameValues(volume.values, expected.values))
        let map = volume.featureMap
        #expect(map.shape == [1, entry.channels] + volume.spatial)
    }

    @Test("every NIfTI header field reads as nibabel reads it", arguments: index.nifti)
    func header(_ entry: VolumeIndex.NIfTI) throws {
        let volume = try VolumeFile.read(Fixtures.path(entry.file), order: .zyx)
        guard case .nifti(let h) = volume.geometry.source else {
            Issue.record("not read as NIfTI")
            return
        }
        #expect(h.version.rawValue == entry.version)
        #expect(h.datatype == entry.datatypeCode)
        #expect(h.dim == entry.dim)
        let rank = entry.dim[0]
        #expect(Array(h.pixdim[1...rank]) == Array(entry.pixdim[1...rank]))
        #expect(h.qformCode == entry.qformCode && h.sformCode == entry.sformCode)
        #expect(h.quaternion == entry.quatern && h.qoffset == entry.qoffset)
        #expect(h.qfac == entry.pixdim[0] && h.pixdim[0] == entry.pixdim[0])
        // the sform is stored; the qform is computed from the quaternion by each library
        if entry.sformCode > 0 { #expect(h.sform == entry.sform) }
        #expect(matricesClose(h.qform, entry.qform, tolerance: 1e-5), "\(h.qform) vs \(entry.qform)")
        #expect(matricesClose(try #require(h.affine), entry.affine, tolerance: 1e-5))
        #expect(h.spatialUnits == entry.spatialUnits && h.timeUnits == entry.timeUnits)
        #expect([h.frequencyDim, h.phaseDim, h.sliceDim] == entry.dimInfo)
        #expect(h.sliceCode == entry.sliceCode && h.sliceStart == entry.sliceStart && h.sliceEnd == entry.sliceEnd)
        #expect(h.sliceDuration == entry.sliceDuration && h.toffset == entry.toffset)
        let scaled = h.sclSlope != 0
        #expect((scaled ? h.sclSlope : 1) == entry.sclSlope && (scaled ? h.sclInter : 0) == entry.sclInter)
        // a header has no NaN fields (an unscaled file's NaN slope reads as 0), so it equals itself
        #expect(try VolumeFile.read(Fixtures.path(entry.file), order: .zyx).geometry == volume.geometry)
    }

    @Test("damaged, lying, 5-D and unsupported files are one-line errors naming the file", arguments: index.errors)
    func refused(_ entry: VolumeIndex.Refused) {
        let path = Fixtures.path(entry.file)
        for order in VolumeAxisOrder.allCases {
            #expect {
                _ = try VolumeFile.read(path, order: order)
            } throws: { error in
                guard let error = error as? ImageError else { return false }
                return error.description.hasPrefix(path + ": ") && error.message.contains(entry.mustMention)
                    && !error.description.contains("\n")
            }
        }
    }

    @Test("libnifti prints nothing, whatever it is given")
    func silent() throws {
        let directory = try TemporaryDirectory()
        let log = directory.file("stderr.txt")
        fflush(nil)
        let saved = dup(2)
        let descriptor = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        dup2(descriptor, 2)
        for entry in Self.index.errors { _ = try? NIfTIFile.read(Fixtures.path(entry.file), order: .zyx) }
        _ = try? NIfTIFile.read(directory.file("missing.nii"), order: .zyx)
        fflush(nil)
        dup2(saved, 2)
        close(descriptor)
        close(saved)
        // Other tests may print meanwhile; libnifti's lines start with "** " or name its functions.
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(!text.contains("** ") && !text.contains("nifti_") && !text.contains("NIFTI") && !text.contains("znz"))
    }

    @Test(".npy volumes: [D, H, W], [C, D, H, W] and [1, C, D, H, W], as they are")
    func numpy() throws {
        let directory = try TemporaryDirectory()
        let sidecar = try NumpyArray(contentsOf: Fixtures.path("volumes/uint16-4d.zyx.npy"))
        let volume = try VolumeFile.read(Fixtures.path("volumes/uint16-4d.zyx.npy"), order: .ijk)
        #expect(volume.channels == 2 && volume.spatial == [7, 9, 11] && volume.order == .ijk)
        #expect(sameValues(volume.values, sidecar.values) && volume.geometry.source == .npy)
        let values = (0..<(2 * 3 * 4 * 5)).map(Float.init)
        for (shape, channels) in [([2, 3, 4, 5], 2), ([1, 2, 3, 4, 5], 2), ([6, 4, 5], 1)] {
            try AtomicWrite.write(NumpyArray(shape: shape, values: values).encoded(), to: directory.file("v.npy"))
            let read = try VolumeFile.read(directory.file("v.npy"), order: .zyx)
            #expect(read.channels == channels && read.spatial == Array(shape.suffix(3)) && read.values == values)
            #expect(read.featureMap.shape == [1, channels] + shape.suffix(3))
        }
        for shape in [[2, 1, 3, 4, 5], [120]] {
            try AtomicWrite.write(NumpyArray(shape: shape, values: values).encoded(), to: directory.file("v.npy"))
            #expect(throws: ImageError.self) { try VolumeFile.read(directory.file("v.npy"), order: .zyx) }
        }
    }

    @Test("file kinds by their first bytes, output kinds by their names")
    func kinds() throws {
        #expect(try VolumeFile.kind(of: Fixtures.path("volumes/float32.nii")) == .nifti)
        #expect(try VolumeFile.kind(of: Fixtures.path("volumes/nifti2-float32.nii")) == .nifti)
        #expect(try VolumeFile.kind(of: Fixtures.path("volumes/uint32.nii.gz")) == .niftiGzip)
        #expect(try VolumeFile.kind(of: Fixtures.path("volumes/stack-u8.tif")) == .tiff)
        #expect(try VolumeFile.kind(of: Fixtures.path("volumes/stack-u8.zyx.npy")) == .npy)
        #expect(throws: ImageError.self) { try VolumeFile.kind(of: Fixtures.path("images/grey8.png")) }
        #expect(VolumeFile.outputKind(of: "a/mask.NII.GZ") == .niftiGzip)
        #expect(VolumeFile.outputKind(of: "mask.nii") == .nifti && VolumeFile.outputKind(of: "p.tiff") == .tiff)
        #expect(VolumeFile.outputKind(of: "p.npy") == .npy && VolumeFile.outputKind(of: "mask.png") == nil)
    }
}

@Suite("Volumes: writing masks and probabilities with the input's geometry")
struct VolumeWritingTests {
    static let index = VolumeIndex.committed

    /// The written header keeps every geometry field of the input.
    func expectSameGeometry(_ written: NIfTIHeader, _ input: NIfTIHeader) {
        #expect(written.version == input.version)
        #expect(written.qformCode == input.qformCode && written.sformCode == input.sformCode)
        #expect(written.quaternion == input.quaternion && written.qoffset == input.qoffset)
        #expect(written.qfac == input.qfac && written.qform == input.qform)
        #expect(written.sform == input.sform && written.affine == input.affine)
        #expect(Array(written.pixdim[0...3]) == Array(input.pixdim[0...3]))
        #expect(Array(written.dim[1...3]) == Array(input.dim[1...3]))
        #expect(written.spatialUnits == input.spatialUnits && written.timeUnits == input.timeUnits)
        let dimInfo: [Int] = [written.frequencyDim, written.phaseDim, written.sliceDim]
        #expect(dimInfo == [input.frequencyDim, input.phaseDim, input.sliceDim])
        #expect(written.sliceCode == input.sliceCode && written.sliceDuration == input.sliceDuration)
        #expect(written.sliceStart == input.sliceStart && written.sliceEnd == input.sliceEnd)
        #expect(written.toffset == input.toffset)
    }

    /// Where fixtures/check_volumes.py finds our outputs, when asked for (not in CI).
    static let keep = ProcessInfo.processInfo.environment["UNET_CKPT_VOLUME_OUTPUTS"]

    @Test(
        "masks and probabilities written as NIfTI read back with the input's geometry, in both orders",
        arguments: index.nifti, VolumeAxisOrder.allCases)
    func nifti(_ entry: VolumeIndex.NIfTI, _ order: VolumeAxisOrder) throws {
        let volume = try VolumeFile.read(Fixtures.path(entry.file), order: order)
        guard case .nifti(let input) = volume.geometry.source else { throw ImageError(.malformed, file: "", "") }
        let directory = try TemporaryDirectory()
        let folder = Self.keep ?? directory.path
        let stem = URL(fileURLWithPath: entry.file).lastPathComponent.replacingOccurrences(of: ".nii.gz", with: "")
            .replacingOccurrences(of: ".nii", with: "")
        let ext = entry.file.hasSuffix(".gz") ? "nii.gz" : "nii"
        let s = volume.spatial
        for classes in [3, 300] {
            let mask = ClassMask(
                pages: s[0], height: s[1], width: s[2], classCount: classes,
                values: labelPattern(volume.geometry, classes: classes))
            let path = folder + "/\(stem).\(order.rawValue).mask\(classes).\(ext)"
            try VolumeFile.writeMask(mask, like: volume.geometry, to: path)
            for readOrder in VolumeAxisOrder.allCases {
                let back = try VolumeFile.read(path, order: readOrder)
                #expect(back.sampleType == (classes <= 256 ? .uint8 : .int16))
                #expect(back.channels == 1)
                let expected = readOrder == order ? mask.values : labelPattern(back.geometry, classes: classes)
                #expect(sameValues(back.values, expected.map(Float.init)))
                guard case .nifti(let written) = back.geometry.source else { continue }
                expectSameGeometry(written, input)
                #expect(written.dim[0] == 3 && written.calMin == 0 && written.calMax == Double(classes - 1))
                #expect(written.sclSlope == 1 && written.sclInter == 0)
            }
        }
        let probabilities = probabilityPattern(volume.geometry, classes: 2)
        let path = folder + "/\(stem).\(order.rawValue).probabilities.\(ext)"
        try VolumeFile.writeProbabilities(probabilities, like: volume.geometry, to: path)
        let back = try VolumeFile.read(path, order: order)
        #expect(back.sampleType == .float32 && back.channels == 2 && back.spatial == volume.spatial)
        #expect(sameValues(back.values, probabilities.values))
        guard case .nifti(let written) = back.geometry.source else { return }
        expectSameGeometry(written, input)
        #expect(written.dim[0] == 4 && written.dim[4] == 2 && written.datatype == 16)
        if Self.keep == nil { #expect(try directory.contents().count == 3) }  // no temporary files left
    }

    @Test("masks and probabilities as TIFF stacks keep the input's page order", arguments: VolumeAxisOrder.allCases)
    func tiff(_ order: VolumeAxisOrder) throws {
        let directory = try TemporaryDirectory()
        for file in ["volumes/stack-u16.tif", "volumes/int16-scaled.nii.gz"] {
            let volume = try VolumeFile.read(Fixtures.path(file), order: order)
            let s = volume.spatial
            let mask = ClassMask(
                pages: s[0], height: s[1], width: s[2], classCount: 4, values: labelPattern(volume.geometry, classes: 4)
            )
            try VolumeFile.writeMask(mask, like: volume.geometry, to: directory.file("mask.tif"))
            let pages = try PixelImage(contentsOf: directory.file("mask.tif"))
            let file = volume.geometry.fileSpatial
            #expect([pages.pages, pages.height, pages.width] == file && pages.sampleType == .uint8)
            let zyxBack = try VolumeFile.read(directory.file("mask.tif"), order: .zyx)
            let zyxGeometry = VolumeGeometry(file: "", source: .tiff, order: .zyx, spatial: file)
            #expect(sameValues(zyxBack.values, labelPattern(zyxGeometry, classes: 4).map(Float.init)))
            let back = try VolumeFile.read(directory.file("mask.tif"), order: order)
            #expect(sameValues(back.values, mask.values.map(Float.init)))

            let probabilities = probabilityPattern(volume.geometry, classes: 3)
            try VolumeFile.writeProbabilities(probabilities, like: volume.geometry, to: directory.file("p.tif"))
            let stack = try PixelImage(contentsOf: directory.file("p.tif"))
            #expect(stack.pages == file[0] * 3 && stack.sampleType == .float32)
            // page p · 3 + k is class k of slice p
            let expected = probabilityPattern(zyxGeometry, classes: 3)
            let plane = file[1] * file[2]
            for p in 0..<file[0] {
                for k in 0..<3 {
                    let start = (k * file[0] + p) * plane
                    #expect(sameValues(Array(stack.page(p * 3 + k)), Array(expected.values[start..<(start + plane)])))
                }
            }
            try VolumeFile.writeProbabilities(probabilities, like: volume.geometry, to: directory.file("p.npy"))
            let array = try NumpyArray(contentsOf: directory.file("p.npy"))
            #expect(array.shape == [1, 3] + s && sameValues(array.values, probabilities.values))
        }
    }

    @Test("a 3-D network output gives per-voxel probabilities and a mask of D pages, written as NIfTI")
    func segmentation() throws {
        let head = Segmentation(try UNetArchitecture.paper(inChannels: 1, outChannels: 2, widths: [4, 8]).network())
        let spatial = [2, 3, 4]
        let second = (0..<24).map { Float($0 % 5) - 2 }  // class 1 where positive
        let logits = FeatureMap(
            batch: 1, channels: 2, spatial: spatial, values: [Float](repeating: 0, count: 24) + second)
        let probabilities = head.probabilities(logits)
        for i in 0..<24 {
            #expect(abs(probabilities.values[i] + probabilities.values[24 + i] - 1) < 1e-6)
            #expect(abs(Double(probabilities.values[24 + i]) - 1 / (1 + exp(-Double(second[i])))) < 1e-6)
        }
        let mask = head.mask(probabilities, threshold: 0.5)
        #expect(mask.pages == 2 && mask.height == 3 && mask.width == 4)
        #expect(mask.values == second.map { $0 > 0 ? 1 : 0 })
        let directory = try TemporaryDirectory()
        let geometry = VolumeGeometry(file: "", source: .npy, order: .zyx, spatial: spatial)
        try VolumeFile.writeMask(mask, like: geometry, to: directory.file("mask.nii"))
        #expect(
            sameValues(try VolumeFile.read(directory.file("mask.nii"), order: .zyx).values, mask.values.map(Float.init))
        )
    }

    @Test("a NIfTI output of a TIFF volume has no orientation and unit spacings")
    func plain() throws {
        let directory = try TemporaryDirectory()
        let volume = try VolumeFile.read(Fixtures.path("volumes/stack-u8.tif"), order: .ijk)
        let mask = ClassMask(
            pages: volume.spatial[0], height: volume.spatial[1], width: volume.spatial[2], classCount: 2,
            values: labelPattern(volume.geometry, classes: 2))
        try VolumeFile.writeMask(mask, like: volume.geometry, to: directory.file("mask.nii.gz"))
        let back = try VolumeFile.read(directory.file("mask.nii.gz"), order: .ijk)
        #expect(sameValues(back.values, mask.values.map(Float.init)) && back.spatial == volume.spatial)
        guard case .nifti(let h) = back.geometry.source else { throw ImageError(.malformed, file: "", "") }
        #expect(h.version == .nifti1 && h.qformCode == 0 && h.sformCode == 0 && h.affine == nil)
        #expect(Array(h.pixdim[1...3]) == [1, 1, 1])
    }

    @Test("an output never replaces its input, and a failed write leaves nothing")
    func source() throws {
        let directory = try TemporaryDirectory()
        let input = directory.file("in.nii.gz")
        try FileManager.default.copyItem(atPath: Fixtures.path("volumes/int16-scaled.nii.gz"), toPath: input)
        let before = try Data(contentsOf: URL(fileURLWithPath: input))
        let volume = try VolumeFile.read(input, order: .zyx)
        let s = volume.spatial
        let mask = ClassMask(
            pages: s[0], height: s[1], width: s[2], classCount: 2, values: labelPattern(volume.geometry, classes: 2))
        #expect(throws: ImageError.self) { try VolumeFile.writeMask(mask, like: volume.geometry, to: input) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: input)) == before)
        #expect(throws: ImageError.self) {
            try VolumeFile.writeMask(mask, like: volume.geometry, to: directory.file("missing/mask.nii"))
        }
        #expect(try directory.contents() == ["in.nii.gz"])
    }
}

@Suite("Volumes: TIFF stacks and planar RGB against tifffile")
struct TIFFVolumeTests {
    static let index = VolumeIndex.committed

    @Test(
        "every TIFF stack reads as tifffile reads it, in both axis orders", arguments: index.tiff,
        VolumeAxisOrder.allCases)
    func stacks(_ entry: VolumeIndex.TIFF, _ order: VolumeAxisOrder) throws {
        let volume = try VolumeFile.read(Fixtures.path(entry.file), order: order)
        let file = [entry.pages, entry.height, entry.width]
        #expect(volume.spatial == (order == .zyx ? file : file.reversed()))
        #expect(volume.channels == entry.channels && volume.sampleType.rawValue == entry.dtype)
        let expected = try NumpyArray(contentsOf: Fixtures.path(order == .zyx ? entry.zyx : entry.ijk))
        #expect(expected.shape == [volume.channels] + volume.spatial)
        #expect(sameValues(volume.values, expected.values))
        #expect(volume.geometry.source == .tiff)
    }

    @Test(
        "planar RGB TIFF (tifffile's default for (3, H, W)) reads as an image",
        arguments: index.tiff.filter { $0.pages == 1 })
    func planarImage(_ entry: VolumeIndex.TIFF) throws {
        let image = try PixelImage(contentsOf: Fixtures.path(entry.file))
        #expect(entry.planarSeparate)
        #expect(image.pages == 1 && image.channels == 3 && image.height == entry.height && image.width == entry.width)
        // [3, 1, H, W] is the image's planar [1, 3, H, W]
        #expect(sameValues(image.values, try NumpyArray(contentsOf: Fixtures.path(entry.zyx)).values))
    }
}
