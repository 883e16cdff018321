import CTIFF
import CUNetImageIO

/// TIFF files through libtiff: one or more pages of the same size and kind, 1 (min-is-black) or 3
/// (RGB) samples per pixel, contiguous or in separate planes, of 8- or 16-bit unsigned integers or
/// 32-bit floats, in strips or tiles, with any compression the installed libtiff decodes. Anything else is refused
/// naming the page and the property.
enum TIFFFile {
    static let supported = "predict reads greyscale or RGB TIFF pages of 8- or 16-bit unsigned or 32-bit float samples"
    /// The largest single allocation libtiff may make while decoding.
    static let maxAllocation = 1 << 30

    struct PageFormat: Equatable {
        let width: Int
        let height: Int
        let channels: Int
        let type: PixelImage.SampleType
    }

    static func read(_ path: String) throws(ImageError) -> PixelImage {
        guard let handle = unet_tiff_open(path, "r", maxAllocation) else {
            throw ImageError(.malformed, file: path, "out of memory")
        }
        defer { unet_tiff_close(handle) }
        guard let tiff = handle.pointee.tiff else {
            throw ImageError(.malformed, file: path, "cannot read the TIFF: " + message(handle))
        }
        let pageCount = Int(TIFFNumberOfDirectories(tiff))
        guard pageCount <= ImageLimits.maxPages else {
            throw ImageError(
                .unsupported, file: path, "\(pageCount) pages: more than \(ImageLimits.maxPages) are not supported")
        }
        var first: PageFormat?
        var values: [Float] = []
        var page = 0
        while true {
            let label = pageCount > 1 ? " (page \(page + 1) of \(pageCount))" : ""
            let (format, separate) = try pageFormat(tiff, path: path, label: label)
            if let first {
                guard format == first else {
                    throw ImageError(
                        .unsupported, file: path,
                        "pages of different sizes or kinds are unsupported: page 1 is \(describe(first)), "
                            + "page \(page + 1) is \(describe(format))")
                }
            } else {
                if let problem = PixelImage.sizeProblem(
                    pages: max(pageCount, 1), channels: format.channels, height: format.height, width: format.width)
                {
                    throw ImageError(.unsupported, file: path, problem)
                }
                first = format
                values.reserveCapacity(max(pageCount, 1) * format.channels * format.height * format.width)
            }
            values += try pixels(tiff, handle, format, separate: separate, path: path, label: label)
            page += 1
            guard page <= ImageLimits.maxPages else {
                throw ImageError(.unsupported, file: path, "more than \(ImageLimits.maxPages) pages are not supported")
            }
            if TIFFReadDirectory(tiff) != 1 { break }
        }
        if handle.pointee.message.0 != 0 {
            throw ImageError(.malformed, file: path, "cannot read the TIFF: " + message(handle))
        }
        let format = first!
        return PixelImage(
            pages: page, channels: format.channels, height: format.height, width: format.width, sampleType: format.type,
            values: values)
    }

    private static func describe(_ format: PageFormat) -> String {
        "\(format.width)×\(format.height) \(format.channels == 3 ? "RGB" : "grey") \(format.type.label)"
    }

    /// The current page's format and whether its samples lie in separate planes (planar
    /// configuration 2, as tifffile writes a `(3, H, W)` RGB array), or the reason it is refused.
    private static func pageFormat(
        _ tiff: OpaquePointer, path: String, label: String
    ) throws(ImageError) -> (PageFormat, separate: Bool) {
        func unsupported(_ what: String) -> ImageError {
            ImageError(.unsupported, file: path, "unsupported: \(what)\(label); \(supported)")
        }
        var width: UInt32 = 0, height: UInt32 = 0
        guard unet_tiff_get_u32(tiff, UInt32(TIFFTAG_IMAGEWIDTH), &width) == 1,
            unet_tiff_get_u32(tiff, UInt32(TIFFTAG_IMAGELENGTH), &height) == 1
        else { throw ImageError(.malformed, file: path, "a TIFF page\(label) without a width or height") }
        var samples: UInt16 = 1, bits: UInt16 = 1, sampleFormat: UInt16 = 1, planar: UInt16 = 1
        var compression: UInt16 = 1
        _ = unet_tiff_get_defaulted_u16(tiff, UInt32(TIFFTAG_SAMPLESPERPIXEL), &samples)
        _ = unet_tiff_get_defaulted_u16(tiff, UInt32(TIFFTAG_BITSPERSAMPLE), &bits)
        _ = unet_tiff_get_defaulted_u16(tiff, UInt32(TIFFTAG_SAMPLEFORMAT), &sampleFormat)
        _ = unet_tiff_get_defaulted_u16(tiff, UInt32(TIFFTAG_PLANARCONFIG), &planar)
        _ = unet_tiff_get_defaulted_u16(tiff, UInt32(TIFFTAG_COMPRESSION), &compression)
        var photometric: UInt16 = 0
        let hasPhotometric = unet_tiff_get_u16(tiff, UInt32(TIFFTAG_PHOTOMETRIC), &photometric) == 1
        let extra = Int(unet_tiff_extra_samples(tiff))

        if hasPhotometric {
            switch Int32(photometric) {
            case PHOTOMETRIC_MINISBLACK, PHOTOMETRIC_RGB: break
            case PHOTOMETRIC_PALETTE: throw unsupported("a palette (indexed-colour) TIFF")
            case PHOTOMETRIC_MINISWHITE: throw unsupported("min-is-white greyscale (photometric 0)")
            case PHOTOMETRIC_SEPARATED: throw unsupported("CMYK (photometric separated)")
            case PHOTOMETRIC_YCBCR: throw unsupported("YCbCr colour (photometric 6)")
            default: throw unsupported("photometric interpretation \(photometric)")
            }
        }
        if extra > 0 || (samples != 1 && samples != 3) {
            let alpha = extra > 0 ? " (with \(extra) extra sample\(extra == 1 ? "" : "s"), e.g. alpha)" : ""
            throw unsupported("\(samples) samples per pixel\(alpha)")
        }
        if hasPhotometric, (samples == 3) != (Int32(photometric) == PHOTOMETRIC_RGB) {
            throw unsupported("\(samples) samples per pixel with photometric \(photometric)")
        }
        let type: PixelImage.SampleType
        switch (Int32(sampleFormat), bits) {
        case (SAMPLEFORMAT_UINT, 8): type = .uint8
        case (SAMPLEFORMAT_UINT, 16): type = .uint16
        case (SAMPLEFORMAT_IEEEFP, 32): type = .float32
        case (_, 1): throw unsupported("1-bit (bilevel) samples")
        case (SAMPLEFORMAT_INT, _): throw unsupported("signed \(bits)-bit integer samples")
        case (SAMPLEFORMAT_IEEEFP, _): throw unsupported("\(bits)-bit float samples")
        case (SAMPLEFORMAT_UINT, _): throw unsupported("\(bits)-bit samples")
        default: throw unsupported("sample format \(sampleFormat) with \(bits) bits")
        }
        if samples > 1 && Int32(planar) != PLANARCONFIG_CONTIG && Int32(planar) != PLANARCONFIG_SEPARATE {
            throw unsupported("planar configuration \(planar)")
        }
        if TIFFIsCODECConfigured(compression) != 1 {
            throw unsupported("compression \(compression) (this libtiff cannot decode it)")
        }
        if let problem = PixelImage.sizeProblem(
            pages: 1, channels: Int(samples), height: Int(height), width: Int(width))
        {
            throw ImageError(.unsupported, file: path, problem + label)
        }
        let format = PageFormat(width: Int(width), height: Int(height), channels: Int(samples), type: type)
        return (format, samples > 1 && Int32(planar) == PLANARCONFIG_SEPARATE)
    }

    /// The current page's values, planar. Separate planes are read one after the other (libtiff's
    /// sample index), each as a page of one sample.
    private static func pixels(
        _ tiff: OpaquePointer, _ handle: UnsafeMutablePointer<unet_tiff>, _ format: PageFormat, separate: Bool,
        path: String, label: String
    ) throws(ImageError) -> [Float] {
        let planes = separate ? format.channels : 1
        let pixelBytes = format.channels / planes * format.type.byteCount
        let rowBytes = format.width * pixelBytes
        let planeBytes = rowBytes * format.height
        var bytes = [UInt8](repeating: 0, count: planeBytes * planes)
        func failure() -> ImageError {
            ImageError(.malformed, file: path, "cannot read the TIFF pixels\(label): " + message(handle))
        }
        if TIFFIsTiled(tiff) != 0 {
            var tileWidth: UInt32 = 0, tileHeight: UInt32 = 0
            guard unet_tiff_get_u32(tiff, UInt32(TIFFTAG_TILEWIDTH), &tileWidth) == 1,
                unet_tiff_get_u32(tiff, UInt32(TIFFTAG_TILELENGTH), &tileHeight) == 1, tileWidth > 0, tileHeight > 0,
                Int(tileWidth) * Int(tileHeight) * pixelBytes <= maxAllocation
            else { throw ImageError(.malformed, file: path, "a tiled TIFF page\(label) with bad tile sizes") }
            let tw = Int(tileWidth), th = Int(tileHeight)
            var tile = [UInt8](repeating: 0, count: tw * th * pixelBytes)
            for plane in 0..<planes {
                for top in stride(from: 0, to: format.height, by: th) {
                    for left in stride(from: 0, to: format.width, by: tw) {
                        let index = TIFFComputeTile(tiff, UInt32(left), UInt32(top), 0, UInt16(plane))
                        let read = tile.withUnsafeMutableBytes {
                            TIFFReadEncodedTile(tiff, index, $0.baseAddress, tmsize_t($0.count))
                        }
                        guard read >= 0 else { throw failure() }
                        let rows = min(th, format.height - top), columns = min(tw, format.width - left)
                        for y in 0..<rows {
                            let source = y * tw * pixelBytes
                            let target = plane * planeBytes + (top + y) * rowBytes + left * pixelBytes
                            bytes.replaceSubrange(
                                target..<(target + columns * pixelBytes),
                                with: tile[source..<(source + columns * pixelBytes)])
                        }
                    }
                }
            }
        } else {
            guard TIFFScanlineSize64(tiff) == UInt64(rowBytes) else {
                throw ImageError(.malformed, file: path, "a TIFF page\(label) whose rows are not \(rowBytes) bytes")
            }
            let status: Int32 = bytes.withUnsafeMutableBytes { raw in
                for plane in 0..<planes {
                    for y in 0..<format.height {
                        let row = raw.baseAddress! + plane * planeBytes + y * rowBytes
                        if TIFFReadScanline(tiff, row, UInt32(y), UInt16(plane)) != 1 { return -1 }
                    }
                }
                return 0
            }
            guard status == 0 else { throw failure() }
        }
        return Interleaved.planar(
            bytes, pages: planes, height: format.height, width: format.width, channels: format.channels / planes,
            type: format.type)
    }

    /// Writes every page of a raster: uncompressed pixels in strips of about 8 KiB, deflate when
    /// libtiff has it, `description` in each page's ImageDescription.
    static func write(_ raster: Raster, to path: String, description: String? = nil) throws(ImageError) {
        let big = raster.bytes.count > Int(Int32.max)
        guard let handle = unet_tiff_open(path, big ? "w8" : "w", maxAllocation) else {
            throw ImageError(.writeFailed, file: path, "out of memory")
        }
        var closed = false
        defer { if !closed { unet_tiff_close(handle) } }
        guard let tiff = handle.pointee.tiff else { throw ImageError(.writeFailed, file: path, message(handle)) }
        let rowBytes = raster.width * raster.channels * raster.sampleType.byteCount
        let deflate = TIFFIsCODECConfigured(UInt16(COMPRESSION_ADOBE_DEFLATE)) == 1
        for page in 0..<raster.pages {
            let sampleFormat = raster.sampleType == .float32 ? SAMPLEFORMAT_IEEEFP : SAMPLEFORMAT_UINT
            var ok =
                unet_tiff_set_u32(tiff, UInt32(TIFFTAG_IMAGEWIDTH), UInt32(raster.width)) == 1
                && unet_tiff_set_u32(tiff, UInt32(TIFFTAG_IMAGELENGTH), UInt32(raster.height)) == 1
                && unet_tiff_set_u16(tiff, UInt32(TIFFTAG_SAMPLESPERPIXEL), UInt16(raster.channels)) == 1
                && unet_tiff_set_u16(tiff, UInt32(TIFFTAG_BITSPERSAMPLE), UInt16(raster.sampleType.byteCount * 8)) == 1
                && unet_tiff_set_u16(tiff, UInt32(TIFFTAG_SAMPLEFORMAT), UInt16(sampleFormat)) == 1
                && unet_tiff_set_u16(
                    tiff, UInt32(TIFFTAG_PHOTOMETRIC),
                    UInt16(raster.channels == 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK)) == 1
                && unet_tiff_set_u16(tiff, UInt32(TIFFTAG_PLANARCONFIG), UInt16(PLANARCONFIG_CONTIG)) == 1
                && unet_tiff_set_u16(
                    tiff, UInt32(TIFFTAG_COMPRESSION), UInt16(deflate ? COMPRESSION_ADOBE_DEFLATE : COMPRESSION_NONE))
                    == 1
                && unet_tiff_set_u32(
                    tiff, UInt32(TIFFTAG_ROWSPERSTRIP), UInt32(max(1, min(raster.height, 8192 / max(rowBytes, 1)))))
                    == 1
            if raster.pages > 1 {
                ok =
                    ok && unet_tiff_set_u32(tiff, UInt32(TIFFTAG_SUBFILETYPE), UInt32(FILETYPE_PAGE)) == 1
                    && unet_tiff_set_page_number(tiff, UInt16(page), UInt16(raster.pages)) == 1
            }
            if let description {
                ok = ok && unet_tiff_set_string(tiff, UInt32(TIFFTAG_IMAGEDESCRIPTION), description) == 1
            }
            guard ok else {
                throw ImageError(.writeFailed, file: path, "cannot set the TIFF fields: " + message(handle))
            }
            let written: Bool = raster.bytes.withUnsafeBytes { raw in
                var row = [UInt8](repeating: 0, count: rowBytes)  // libtiff may modify the row it is given
                for y in 0..<raster.height {
                    let start = page * raster.pageBytes + y * rowBytes
                    row.withUnsafeMutableBytes {
                        $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[start..<(start + rowBytes)]))
                    }
                    let status = row.withUnsafeMutableBytes { TIFFWriteScanline(tiff, $0.baseAddress, UInt32(y), 0) }
                    if status != 1 { return false }
                }
                return TIFFWriteDirectory(tiff) == 1
            }
            guard written else {
                throw ImageError(.writeFailed, file: path, "cannot write the TIFF: " + message(handle))
            }
        }
        TIFFFlush(tiff)
        let error = handle.pointee.message.0 != 0 ? message(handle) : nil
        closed = true
        unet_tiff_close(handle)
        if let error { throw ImageError(.writeFailed, file: path, error) }
    }

    /// The first error libtiff reported on the handle.
    static func message(_ handle: UnsafeMutablePointer<unet_tiff>) -> String {
        withUnsafeBytes(of: handle.pointee.message) { raw in
            let text = String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            return text.isEmpty ? "libtiff gave no reason" : text
        }
    }
}
