import CUNetImageIO

/// PNG files through libpng (the calls themselves are in CUNetImageIO): 8- or 16-bit, grey or
/// RGB, interlaced or not. Palette, alpha and 1/2/4-bit images are refused, naming the property.
enum PNGFile {
    static let supported = "predict reads 8- or 16-bit greyscale or RGB PNG files"

    static func read(_ path: String) throws(ImageError) -> PixelImage {
        var message = [CChar](repeating: 0, count: Int(UNET_MESSAGE_CAPACITY))
        var info = unet_png_info()
        guard let reader = unet_png_open(path, UInt32(ImageLimits.maxSide), &info, &message) else {
            throw ImageError(.malformed, file: path, "cannot read the PNG: " + libpngText(message))
        }
        defer { unet_png_close(reader) }
        func unsupported(_ what: String) -> ImageError {
            ImageError(.unsupported, file: path, "unsupported: \(what); \(supported)")
        }
        switch info.color_type {
        case 0, 2: break
        case 3: throw unsupported("a palette (indexed-colour) PNG")
        case 4: throw unsupported("a PNG with an alpha channel (grey + alpha)")
        case 6: throw unsupported("a PNG with an alpha channel (RGB + alpha)")
        default: throw ImageError(.malformed, file: path, "an unknown PNG colour type \(info.color_type)")
        }
        guard info.bit_depth == 8 || info.bit_depth == 16 else {
            throw unsupported("a \(info.bit_depth)-bit greyscale PNG")
        }
        let channels = info.color_type == 2 ? 3 : 1
        let height = Int(info.height), width = Int(info.width)
        if let problem = PixelImage.sizeProblem(pages: 1, channels: channels, height: height, width: width) {
            throw ImageError(.unsupported, file: path, problem)
        }
        let sampleType: PixelImage.SampleType = info.bit_depth == 16 ? .uint16 : .uint8
        var bytes = [UInt8](repeating: 0, count: height * width * channels * sampleType.byteCount)
        let status = bytes.withUnsafeMutableBytes { unet_png_read_pixels(reader, $0.baseAddress, $0.count, &message) }
        guard status == 0 else {
            throw ImageError(.malformed, file: path, "cannot read the PNG: " + libpngText(message))
        }
        let values = Interleaved.planar(
            bytes, pages: 1, height: height, width: width, channels: channels, type: sampleType)
        return PixelImage(
            pages: 1, channels: channels, height: height, width: width, sampleType: sampleType, values: values)
    }

    /// Writes one page of 8- or 16-bit grey or RGB.
    static func write(_ raster: Raster, to path: String) throws(ImageError) {
        precondition(raster.pages == 1 && raster.sampleType != .float32)
        var message = [CChar](repeating: 0, count: Int(UNET_MESSAGE_CAPACITY))
        let status = raster.bytes.withUnsafeBytes {
            unet_png_write(
                path, $0.baseAddress, UInt32(raster.width), UInt32(raster.height), Int32(raster.channels),
                raster.sampleType == .uint16 ? 16 : 8, &message)
        }
        guard status == 0 else { throw ImageError(.writeFailed, file: path, libpngText(message)) }
    }

    /// libpng's message, with its terse "Read Error" (a short read) said plainly.
    private static func libpngText(_ message: [CChar]) -> String {
        let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return text == "Read Error" ? "the file ends early (truncated)" : text
    }
}

/// Conversions between interleaved bytes (as files store pixels) and planar floats.
enum Interleaved {
    static func planar(
        _ bytes: [UInt8], pages: Int, height: Int, width: Int, channels: Int, type: PixelImage.SampleType
    ) -> [Float] {
        let plane = height * width
        var values = [Float](repeating: 0, count: pages * channels * plane)
        bytes.withUnsafeBytes { raw in
            values.withUnsafeMutableBufferPointer { out in
                for p in 0..<pages {
                    for i in 0..<plane {
                        for c in 0..<channels {
                            let index = (p * plane + i) * channels + c
                            let value: Float
                            switch type {
                            case .uint8: value = Float(raw[index])
                            case .uint16: value = Float(raw.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self))
                            case .float32: value = raw.loadUnaligned(fromByteOffset: index * 4, as: Float.self)
                            }
                            out[(p * channels + c) * plane + i] = value
                        }
                    }
                }
            }
        }
        return values
    }
}
