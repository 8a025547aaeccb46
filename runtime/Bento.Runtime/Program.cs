// Entry point of the runtime; the serve pipeline is assembled in Server/.
return await Bento.Runtime.Server.RuntimeHost.RunAsync(args);
